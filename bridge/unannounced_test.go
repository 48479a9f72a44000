package bridge

import (
	"fmt"
	"testing"
	"time"

	"github.com/paybridge/paybridge/internal/testkit"
)

// A claim of another instance is overdue once this instance has seen it
// unannounced for the grace period, by its own clock; one this instance
// gave up is overdue at once.
func TestUnannouncedClaimsAreOverdueAfterTheGraceSeenHere(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	u := newUnannounced(time.Minute, clock)
	if u.overdue("k", "ev") || u.mayBeOverdue("k") {
		t.Fatal("a claim first seen now is overdue")
	}
	clock.Advance(59 * time.Second)
	if u.overdue("k", "ev") {
		t.Fatal("a claim seen for less than the grace period is overdue")
	}
	if u.overdue("k", "ev-next") {
		t.Fatal("a new claim of the key inherits the time of the one before")
	}
	clock.Advance(time.Minute)
	if !u.mayBeOverdue("k") || !u.overdue("k", "ev-next") {
		t.Fatal("a claim seen for the grace period is not overdue")
	}
	u.givenUp("mine", "ev")
	if !u.overdue("mine", "ev") {
		t.Fatal("a claim this instance gave up is not overdue at once")
	}
	u.announced("mine", "other")
	u.announced("mine", "ev")
	if _, remembered := u.m["mine"]; remembered {
		t.Fatal("an announced claim is remembered")
	}
}

// Once full, the set makes room by forgetting the claims older than the
// grace period, which are overdue anyway; never younger ones.
func TestUnannouncedClaimsForgetOnlyWhatTheGraceCovers(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	u := newUnannounced(time.Minute, clock)
	for i := range maxUnannounced {
		u.givenUp(fmt.Sprintf("k%d", i), "ev")
	}
	clock.Advance(30 * time.Second)
	u.givenUp("young", "ev-young")
	if _, ok := u.m["young"]; ok || !u.overdue("k0", "ev") {
		t.Fatal("a full set took a claim in place of one still within its grace period")
	}
	clock.Advance(time.Minute)
	u.givenUp("late", "ev-late")
	if _, ok := u.m["k0"]; ok || !u.overdue("late", "ev-late") {
		t.Fatal("a full set did not make room by forgetting claims past their grace period")
	}
}
