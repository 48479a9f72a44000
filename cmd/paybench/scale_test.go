package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/internal/cli"
)

// --scale end to end, small: the bucket the bridge created is filled, the
// bridge restarted against it becomes ready, answers a lookup of a stored
// payment with its record, is followed over its first 2 s, and then takes
// the load window without errors.
func TestScaleMeasuresARestartAgainstAFilledBucket(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"--self", "--scale", "2000", "--scale-settle", "2s",
		"--payments", "200", "--rate", "200", "--duration", "1s", "--warmup", "200ms", "--json"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	var res result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("output is not the result JSON: %v\n%s", err, stdout.String())
	}
	if res.Scale == nil {
		t.Fatalf("no scale result:\n%s", stdout.String())
	}
	f, r := res.Scale.Fill, res.Scale.Restart
	if f.Records != 2000 || f.StoredValues != 2000 || f.PerSecond <= 0 || f.BytesPerRecord <= 0 {
		t.Errorf("want 2000 records filled and stored, got %+v", f)
	}
	if r.ReadySeconds <= 0 || r.FirstLookupSeconds <= 0 || r.LookupAttempts < 1 {
		t.Errorf("want positive times to ready and to the first lookup, got %+v", r)
	}
	rep := r.LookupReply
	if rep.Provider != "muvinai" || rep.PaymentID != "scale-muvinai-0002000" || rep.Status != paybridge.StatusPaid ||
		rep.Amount != muvinaiAmount || rep.Source != paybridge.SourceStore || rep.CheckedAt.IsZero() {
		t.Errorf("the first lookup must answer the payment stored last, paid, from the store: %+v", rep)
	}
	if r.WindowSeconds != 2 || r.RSSPeakMiB <= 0 || r.RSSEndMiB <= 0 || r.RSSEndMiB > r.RSSPeakMiB || r.CPUSeconds <= 0 {
		t.Errorf("want the bridge's RSS and CPU over a 2 s window, got %+v", r)
	}
	if len(res.Runs) != 1 || res.Runs[0].Name != "bridge" || res.Runs[0].Checks < 100 || len(res.Runs[0].Errors) != 0 {
		t.Errorf("want a bridge run without errors after the restart, got %+v", res.Runs)
	}
	if res.RSS == nil || res.RSS.PeakMiB == nil || *res.RSS.PeakMiB <= 0 {
		t.Errorf("want the restarted bridge's memory under load, got %+v", res.RSS)
	}

	var table bytes.Buffer
	writeTable(&table, &res)
	for _, want := range []string{"fill:    2000 settled payments", "first lookup answered after", "scale-muvinai-0002000 paid", "first 2 s: CPU"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

func TestScaleFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--self", "--scale", "-1"}, "--scale must not be negative"},
		{[]string{"--self", "--scale-settle", "5s"}, "--scale-settle needs --scale"},
		{[]string{"--nats-url", "nats://127.0.0.1:4222", "--scale", "10"}, "--scale needs --self"},
		{[]string{"--self", "--scale", "10", "--bridge", "in-process"}, "it needs --bridge subprocess"},
		{[]string{"--self", "--scale", "10", "--floor"}, "--scale and --floor exclude each other"},
		{[]string{"--self", "--scale", "10", "--scale-settle", "0s"}, "--scale-settle must be positive"},
	} {
		_, err := parseFlags(tc.args, &bytes.Buffer{})
		if !cli.IsUsage(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: want a usage error containing %q, got %v", tc.args, tc.want, err)
		}
	}
	o, err := parseFlags([]string{"--self", "--scale", "10"}, &bytes.Buffer{})
	if err != nil || o.payments != 100000 || o.rate != 1000 {
		t.Errorf("--scale: want 100000 payments at 1000 checks/s by default, got %d at %v (%v)", o.payments, o.rate, err)
	}
	o, err = parseFlags([]string{"--self", "--scale", "10", "--payments", "50", "--rate", "0"}, &bytes.Buffer{})
	if err != nil || o.payments != 50 || o.rate != 0 {
		t.Errorf("--scale with --payments 50 --rate 0: got %d at %v (%v)", o.payments, o.rate, err)
	}
}
