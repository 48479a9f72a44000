package bridge_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/paybridge/paybridge/bridge"
)

// A Config the bridge could not run with is refused by New, naming the
// setting, before anything starts: a negative interval would otherwise
// panic in a background goroutine.
func TestNewRefusesAConfigItCannotRun(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		cfg  bridge.Config
		want string
	}{
		{bridge.Config{Replicas: 2}, "replicas must be 1 or 3, got 2"},
		{bridge.Config{ReconcileInterval: -time.Second}, "reconcile interval must be positive, got -1s"},
		{bridge.Config{ReconcileGrace: -time.Second}, "reconcile grace must be positive"},
		{bridge.Config{CheckTimeout: -time.Second}, "check timeout must be positive"},
		{bridge.Config{WatchDeadline: -time.Hour}, "watch deadline must be positive"},
		{bridge.Config{MaxWatches: -1}, "max watches must be at least 1"},
		{bridge.Config{WatchSchedule: []time.Duration{time.Second, 0}}, "watch schedule steps must be positive"},
		{bridge.Config{CheckSubject: "payments.>"}, `subject "payments.>" is not a valid NATS subject without wildcards: it must not contain wildcards`},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := bridge.New(ctx, e.connect(), c.cfg, e.providers()...)
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v): %v, want an error naming %q", c.cfg, err, c.want)
		}
	}
}
