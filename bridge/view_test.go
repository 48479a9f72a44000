package bridge

import (
	"fmt"
	"testing"
	"time"

	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/providers"
)

func TestViewNeverGoesBackwards(t *testing.T) {
	v := newView(10)
	paid := Record{StatusChanged: events.StatusChanged{Status: providers.StatusPaid}}
	pending := Record{StatusChanged: events.StatusChanged{Status: providers.StatusPending}}
	v.put("k", paid, 7)
	v.put("k", pending, 5) // a late watch update of an older revision
	if e, _ := v.get("k"); e.rev != 7 || e.rec.Status != providers.StatusPaid {
		t.Fatalf("view went back to %+v", e)
	}
}

func TestViewConfirmationBelongsToItsRevision(t *testing.T) {
	v := newView(10)
	observed := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := Record{StatusChanged: events.StatusChanged{Status: providers.StatusPending, ObservedAt: observed}}
	v.put("k", rec, 3)
	later := observed.Add(time.Minute)
	v.confirm("k", 2, later) // confirms an older revision: ignored
	if e, _ := v.get("k"); !e.checkedAt().Equal(observed) {
		t.Fatalf("checked at %s", e.checkedAt())
	}
	v.confirm("k", 3, later)
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
