package bridge

import (
	"fmt"
	"testing"
	"time"
)

// Once full, the set makes room by forgetting the claims given up longer
// than the grace period ago, which the reconciler treats as overdue
// anyway; never younger ones.
func TestAbandonedClaimsForgetOnlyWhatTheGraceCovers(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := newAbandonedClaims(time.Minute, func() time.Time { return clock })
	for i := range maxAbandoned {
		a.add(fmt.Sprintf("k%d", i), "ev")
	}
	clock = clock.Add(30 * time.Second)
	a.add("young", "ev-young")
	if a.hasKey("young") || !a.has("k0", "ev") {
		t.Fatal("a full set took a claim in place of one still within its grace period")
	}
	clock = clock.Add(time.Minute)
	a.add("late", "ev-late")
	if !a.has("late", "ev-late") || a.hasKey("k0") {
		t.Fatal("a full set did not make room by forgetting claims past their grace period")
	}
	a.remove("late", "other")
	a.remove("late", "ev-late")
	if a.hasKey("late") {
		t.Fatal("an announced claim is remembered")
	}
}
