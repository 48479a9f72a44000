package bridge

import (
	"testing"

	"github.com/paybridge/paybridge"
)

func TestJudgeAppliesTheTransitionGuard(t *testing.T) {
	for _, c := range []struct {
		found        bool
		stored, next paybridge.Status
		want         verdict
	}{
		{false, "", paybridge.StatusPending, verdictChange},
		{false, "", paybridge.StatusUnknown, verdictUnknown},
		{true, paybridge.StatusPending, paybridge.StatusUnknown, verdictUnknown},
		{true, paybridge.StatusPending, paybridge.StatusPending, verdictSame},
		{true, paybridge.StatusPending, paybridge.StatusUnderpaid, verdictChange},
		{true, paybridge.StatusUnderpaid, paybridge.StatusPending, verdictChange},
		{true, paybridge.StatusPending, paybridge.StatusPaid, verdictChange},
		{true, paybridge.StatusPaid, paybridge.StatusPending, verdictStale},
		{true, paybridge.StatusExpired, paybridge.StatusUnderpaid, verdictStale},
		{true, paybridge.StatusPaid, paybridge.StatusRefunded, verdictChange},
		{true, paybridge.StatusExpired, paybridge.StatusPaid, verdictChange},
		{true, paybridge.StatusPaid, paybridge.StatusPaid, verdictSame},
	} {
		if got := judge(c.found, c.stored, c.next); got != c.want {
			t.Errorf("judge(%t, %q, %q) = %d, want %d", c.found, c.stored, c.next, got, c.want)
		}
	}
}
