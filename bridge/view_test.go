package bridge

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/events"
)

func testView(t *testing.T, size int) (*view, *metrics) {
	t.Helper()
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	v := newView(size, m)
	if err := m.watchView(v); err != nil {
		t.Fatal(err)
	}
	return v, m
}

func TestViewNeverGoesBackwards(t *testing.T) {
	v, _ := testView(t, 10)
	paid := Record{StatusChanged: events.StatusChanged{Status: paybridge.StatusPaid}}
	pending := Record{StatusChanged: events.StatusChanged{Status: paybridge.StatusPending}}
	v.put("k", paid, 7)
	v.put("k", pending, 5) // a late watch update of an older revision
	if e, _ := v.get("k"); e.kvRevision != 7 || e.status.Status() != paybridge.StatusPaid {
		t.Fatalf("view went back to %+v", e)
	}
}

func TestViewConfirmationBelongsToItsRevision(t *testing.T) {
	v, _ := testView(t, 10)
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

// The view keeps the payments used last: past its size it forgets the
// least recently used, counts each eviction, and never answers for a
// payment it forgot.
func TestViewEvictsTheLeastRecentlyUsed(t *testing.T) {
	v, m := testView(t, 3)
	for i := range 3 {
		v.put(fmt.Sprint(i), Record{}, uint64(i+1))
	}
	v.get("0") // used: "1" is now the least recently used
	v.put("3", Record{}, 4)
	if _, ok := v.get("1"); ok {
		t.Fatal("an evicted payment was served")
	}
	for _, key := range []string{"0", "2", "3"} {
		if _, ok := v.get(key); !ok {
			t.Fatalf("%s was evicted instead of the least recently used", key)
		}
	}
	// A payment another instance updated is in play too: the update
	// counts as a use.
	v.follow("2", Record{}, 9, time.Now())
	v.put("4", Record{}, 10)
	if _, ok := v.get("0"); ok {
		t.Fatal("the least recently used payment was kept")
	}
	if _, ok := v.get("2"); !ok {
		t.Fatal("a payment just updated was evicted")
	}
	if n := testutil.ToFloat64(m.cacheEvictions); n != 2 {
		t.Fatalf("%v evictions counted, want 2", n)
	}
	if v.len() != 3 {
		t.Fatalf("%d entries, size 3", v.len())
	}
}

// The view fills from checks only: an update of a payment it does not
// hold is not added, and an expired record is forgotten.
func TestViewFollowsOnlyWhatItHolds(t *testing.T) {
	v, _ := testView(t, 10)
	if v.follow("other", Record{}, 5, time.Now()); v.len() != 0 {
		t.Fatal("following an update added a payment")
	}
	v.put("k", Record{}, 1)
	v.forget("k")
	if _, ok := v.get("k"); ok {
		t.Fatal("a forgotten payment was served")
	}
}

// A check that found no change against a record already replaced in KV is
// reported when the watch delivers the replacement, so the payment can be
// asked again.
func TestViewFollowReportsAnswersComparedWithAReplacedRecord(t *testing.T) {
	v, _ := testView(t, 10)
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
	if e, _ := v.get("k"); e.kvRevision != 4 || e.status.Status() != paybridge.StatusUnderpaid {
		t.Fatalf("view not brought up to date: %+v", e)
	}

	// A write made after the confirmation is newer: nothing was missed.
	v.confirm("k", 4, t0.Add(3*time.Second), paybridge.StatusUnderpaid)
	if v.follow("k", pending, 5, t0.Add(4*time.Second)) {
		t.Fatal("an older confirmation was reported against a newer write")
	}
}
