package bridge

import (
	"testing"

	"github.com/paybridge/paybridge/providers"
)

func TestJudgeAppliesTheTransitionGuard(t *testing.T) {
	for _, c := range []struct {
		found        bool
		stored, next providers.Status
		want         verdict
	}{
		{false, "", providers.StatusPending, verdictChange},
		{false, "", providers.StatusUnknown, verdictUnknown},
		{true, providers.StatusPending, providers.StatusUnknown, verdictUnknown},
		{true, providers.StatusPending, providers.StatusPending, verdictSame},
		{true, providers.StatusPending, providers.StatusUnderpaid, verdictChange},
		{true, providers.StatusUnderpaid, providers.StatusPending, verdictChange},
		{true, providers.StatusPending, providers.StatusPaid, verdictChange},
		{true, providers.StatusPaid, providers.StatusPending, verdictStale},
		{true, providers.StatusExpired, providers.StatusUnderpaid, verdictStale},
		{true, providers.StatusPaid, providers.StatusRefunded, verdictChange},
		{true, providers.StatusExpired, providers.StatusPaid, verdictChange},
		{true, providers.StatusPaid, providers.StatusPaid, verdictSame},
	} {
		if got := judge(c.found, c.stored, c.next); got != c.want {
			t.Errorf("judge(%t, %q, %q) = %d, want %d", c.found, c.stored, c.next, got, c.want)
		}
	}
}
