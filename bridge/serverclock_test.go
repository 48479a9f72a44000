package bridge

import (
	"testing"
	"time"
)

// The server's clock is read from the reading with the shortest round
// trip of the last minute: a late answer from a busy server would move
// every due time by half its delay.
func TestServerClockTrustsTheQuickestReading(t *testing.T) {
	var c serverClock
	start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	ahead := 30 * time.Millisecond // this instance's clock runs 30 ms ahead
	read := func(sent time.Time, there, back time.Duration) {
		stamped := sent.Add(there).Add(-ahead)
		c.note(sent, sent.Add(there+back), stamped)
	}
	at := func(t time.Time) time.Duration { return t.Sub(c.serverTime(t)) }

	read(start, time.Millisecond, time.Millisecond)
	if got := at(start); got != ahead {
		t.Fatalf("offset %s after a symmetric reading, want %s", got, ahead)
	}
	// A busy server: the answer waits 400 ms to leave. Its reading is off
	// by 200 ms, and the quicker one stands.
	read(start.Add(time.Second), time.Millisecond, 400*time.Millisecond)
	if got := at(start); got != ahead {
		t.Fatalf("offset %s after a late answer, want the quick reading's %s", got, ahead)
	}
	// A minute on, the quick reading is forgotten: the clocks may have
	// moved. The best of the new ones stands.
	later := start.Add(offsetWindow + time.Second)
	ahead = 50 * time.Millisecond
	read(later, 20*time.Millisecond, 20*time.Millisecond)
	read(later.Add(time.Second), 300*time.Millisecond, time.Millisecond)
	if got := at(later); got != ahead {
		t.Fatalf("offset %s a minute on, want %s", got, ahead)
	}
}
