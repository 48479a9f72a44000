package testkit

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestWaitForReturnsOnceTheConditionHolds(t *testing.T) {
	var n atomic.Int32
	WaitFor(t, 5*time.Second, "three polls", func() bool { return n.Add(1) == 3 })
	if n.Load() != 3 {
		t.Fatalf("polled %d times", n.Load())
	}
}

// failRecorder is a testing.TB that records Fatalf instead of stopping.
type failRecorder struct {
	testing.TB
	msg string
}

func (f *failRecorder) Helper() {}
func (f *failRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
}

func TestWaitForFailsAtTheDeadline(t *testing.T) {
	f := &failRecorder{TB: t}
	polls := 0
	WaitFor(f, 30*time.Millisecond, "never", func() bool { polls++; return f.msg != "" })
	if f.msg != "timed out after 30ms waiting for never" || polls < 2 {
		t.Fatalf("message %q after %d polls", f.msg, polls)
	}
}

func TestSyncBufferUnderConcurrentReads(t *testing.T) {
	var b SyncBuffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			fmt.Fprint(&b, "x")
		}
	}()
	WaitFor(t, 5*time.Second, "100 bytes", func() bool { return len(b.String()) == 100 })
	<-done
}

// The clock stands still until moved, and wakes each waiter once its time
// has come, not before.
func TestClockWakesWaitersWhenMovedPastThem(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := NewClock(start)
	soon, later := c.After(time.Second), c.After(time.Minute)
	if c.Waiting() != 2 || !c.Now().Equal(start) {
		t.Fatalf("%d waiting at %s", c.Waiting(), c.Now())
	}
	c.Advance(time.Second)
	select {
	case at := <-soon:
		if !at.Equal(start.Add(time.Second)) {
			t.Fatalf("woken at %s", at)
		}
	default:
		t.Fatal("a waiter whose time came was not woken")
	}
	select {
	case <-later:
		t.Fatal("a waiter was woken before its time")
	default:
	}
	if c.Waiting() != 1 {
		t.Fatalf("%d waiting", c.Waiting())
	}
	select {
	case <-c.After(0):
	default:
		t.Fatal("After(0) does not fire at once")
	}
}
