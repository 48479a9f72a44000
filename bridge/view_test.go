package bridge

import (
	"fmt"
	"testing"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/events"
)

func TestViewNeverGoesBackwards(t *testing.T) {
	v := newView(10)
	paid := Record{StatusChanged: events.StatusChanged{Status: paybridge.StatusPaid}}
	pending := Record{StatusChanged: events.StatusChanged{Status: paybridge.StatusPending}}
	v.put("k", paid, 7)
	v.put("k", pending, 5) // a late watch update of an older revision
	if e, _ := v.get("k"); e.rev != 7 || e.rec.Status != paybridge.StatusPaid {
		t.Fatalf("view went back to %+v", e)
	}
}

func TestViewConfirmationBelongsToItsRevision(t *testing.T) {
	v := newView(10)
	observed := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := Record{StatusChanged: events.StatusChanged{Status: paybridge.StatusPending, ObservedAt: observed}}
	v.put("k", rec, 3)
	later := observed.Add(time.Minute)
	v.confirm("k", 2, later, paybridge.StatusPending) // an older revision: ignored
	if e, _ := v.get("k"); !e.checkedAt().Equal(observed) {
		t.Fatalf("checked at %s", e.checkedAt())
	}
	v.confirm("k", 3, later, paybridge.StatusPending)
	if e, _ := v.get("k"); !e.checkedAt().Equal(later) {
		t.Fatalf("checked at %s", e.checkedAt())
	}
	v.put("k", rec, 4) // a new revision starts from its own observation
	if e, _ := v.get("k"); !e.checkedAt().Equal(observed) {
		t.Fatalf("checked at %s after a new revision", e.checkedAt())
	}
}

func TestViewStaysWithinItsLimit(t *testing.T) {
	v := newView(100)
	for i := range 1000 {
		v.put(fmt.Sprint(i), Record{}, uint64(i+1))
	}
	if n := len(v.m); n > 100 {
		t.Fatalf("view holds %d entries, limit 100", n)
	}
	if _, ok := v.get("999"); !ok {
		t.Fatal("the newest entry was dropped")
	}
}

// A check that found no change against a record already replaced in KV is
// reported when the watch delivers the replacement, so the payment can be
// asked again.
func TestViewFollowReportsAnswersComparedWithAReplacedRecord(t *testing.T) {
	v := newView(10)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pending := Record{StatusChanged: events.StatusChanged{Status: paybridge.StatusPending}}
	underpaid := Record{StatusChanged: events.StatusChanged{Status: paybridge.StatusUnderpaid}}
	v.put("k", pending, 3)
	v.confirm("k", 3, t0.Add(2*time.Second), paybridge.StatusPending)

	// Another instance wrote underpaid at t0+1s, before this instance's
	// "no change" at t0+2s: the provider's later pending was missed.
	if !v.follow("k", underpaid, 4, t0.Add(time.Second)) {
		t.Fatal("a check compared with a replaced record was not reported")
	}
	if e, _ := v.get("k"); e.rev != 4 || e.rec.Status != paybridge.StatusUnderpaid {
		t.Fatalf("view not brought up to date: %+v", e)
	}

	// A write made after the confirmation is newer: nothing was missed.
	v.confirm("k", 4, t0.Add(3*time.Second), paybridge.StatusUnderpaid)
	if v.follow("k", pending, 5, t0.Add(4*time.Second)) {
		t.Fatal("an older confirmation was reported against a newer write")
	}
}
