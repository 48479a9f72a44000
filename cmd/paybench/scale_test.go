package main

import (
	"testing"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers/all"
)

// --scale end to end, small: the bucket the bridge created is filled, the
// bridge restarted against it becomes ready, answers a lookup of a stored
// payment with its record, is followed over its first 2 s, and then takes
// the load window without errors.
func TestScaleMeasuresARestartAgainstAFilledBucket(t *testing.T) {
	res := runJSON(t, 5*time.Minute, "--self", "--scale", "2000", "--scale-settle", "2s",
		"--payments", "200", "--rate", "200", "--duration", "1s", "--warmup", "200ms")
	if res.Scale == nil {
		t.Fatalf("no scale result: %+v", res)
	}
	f, r := res.Scale.Fill, res.Scale.Restart
	if f.Records != 2000 || f.StoredValues != 2000 || f.PerSecond <= 0 || f.BytesPerRecord <= 0 {
		t.Errorf("want 2000 records filled and stored, got %+v", f)
	}
	if r.ReadySeconds <= 0 || r.FirstLookupSeconds <= 0 || r.LookupAttempts < 1 {
		t.Errorf("want positive times to ready and to the first lookup, got %+v", r)
	}
	rep, last := r.LookupReply, all.List[(2000-1)%len(all.List)]
	if rep.Provider != last.Name || rep.PaymentID != "scale-"+last.Name+"-0002000" || rep.Status != paybridge.StatusPaid ||
		rep.Amount != last.Sim.Payment.Amount || rep.Source != paybridge.SourceStore || rep.CheckedAt.IsZero() {
		t.Errorf("the first lookup must answer the payment stored last, paid, from the store: %+v", rep)
	}
	// CPU may read 0: a restart reads nothing of the bucket, and the
	// bridge can stay under /proc's 10 ms tick for the whole window.
	if r.WindowSeconds != 2 || r.RSSPeakMiB <= 0 || r.RSSEndMiB <= 0 || r.RSSEndMiB > r.RSSPeakMiB || r.CPUSeconds < 0 {
		t.Errorf("want the bridge's RSS and CPU over a 2 s window, got %+v", r)
	}
	if len(res.Runs) != 1 || res.Runs[0].Name != "bridge" || res.Runs[0].Checks < 100 || len(res.Runs[0].Errors) != 0 {
		t.Errorf("want a bridge run without errors after the restart, got %+v", res.Runs)
	}
	if res.RSS == nil || res.RSS.PeakMiB == nil || *res.RSS.PeakMiB <= 0 {
		t.Errorf("want the restarted bridge's memory under load, got %+v", res.RSS)
	}

	checkTable(t, &res, "fill:    2000 settled payments", "first lookup answered after", "scale-"+last.Name+"-0002000 paid", "first 2 s: CPU")
}
