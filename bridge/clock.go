package bridge

import (
	"context"
	"time"
)

// Clock tells the time and waits. A bridge reads every time it compares or
// stamps from its one Clock, and waits on it, so that tests can drive time
// and give instances clocks that differ (docs/contract.md, "Clock skew").
// Provider call budgets (golang.org/x/time/rate) keep the wall clock.
type Clock interface {
	// Now is the time in UTC, what records and events carry.
	Now() time.Time
	// After returns a channel that receives the time once d has passed.
	After(d time.Duration) <-chan time.Time
}

// wallClock is the system's clock.
type wallClock struct{}

func (wallClock) Now() time.Time                         { return time.Now().UTC() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// sleep waits d on clock, and reports false when ctx ended first.
func sleep(ctx context.Context, clock Clock, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-clock.After(d):
		return true
	}
}
