package bridge

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// lookupRequest is a fire-and-forget payments.status.get request.
type lookupRequest struct {
	micro.Request
	data []byte
}

func (r lookupRequest) Data() []byte           { return r.data }
func (r lookupRequest) Headers() micro.Headers { return nil }
func (r lookupRequest) Reply() string          { return "" }

// A lookup naming a provider this bridge has not configured is refused
// before it takes a slot: made-up names are never dropped, so they mint no
// metric series. Lookups of a configured provider are dropped and counted
// under it when every lookup slot is busy.
func TestUnconfiguredLookupsMintNoLabels(t *testing.T) {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	checks, lanes := newCheckSlots(1, []string{"coinbar"})
	lookups := newSlots(1)
	s := &service{clock: wallClock{}, checks: checks, lanes: lanes, lookups: lookups, lookup: lookups.lane("lookups", 0, 0), metrics: m, log: log,
		drops: newSummary(log, time.Minute, "dropped")}
	if !lookups.try(s.lookup, func(slot) {}) { // the only slot is busy from now on
		t.Fatal("no lookup slot")
	}
	for i := range 100 {
		s.handle(lookupRequest{data: fmt.Appendf(nil, `{"provider":"made-up-%d","payment_id":"p"}`, i)}, lookupEndpoint)
	}
	s.handle(lookupRequest{data: []byte(`{"provider":"coinbar","payment_id":"p"}`)}, lookupEndpoint)
	if n := testutil.CollectAndCount(m.dropped); n != 1 {
		t.Fatalf("%d series in paybridge_checks_dropped_total, want 1 (coinbar)", n)
	}
	if got := testutil.ToFloat64(m.dropped.WithLabelValues("coinbar")); got != 1 {
		t.Fatalf("%v coinbar lookups dropped, want 1", got)
	}
}
