package bridge

import (
	"testing"
	"time"
)

func TestFinishedCallsShareOnlyWithEarlierArrivals(t *testing.T) {
	f := newFinishedCalls()
	done := time.Now()
	f.put("k", observation{changed: true}, done)
	if _, ok := f.since("k", done.Add(-time.Millisecond)); !ok {
		t.Fatal("a check that arrived before the call finished did not share it")
	}
	if _, ok := f.since("k", done.Add(time.Millisecond)); ok {
		t.Fatal("a check that arrived after the call finished shared it")
	}
	if _, ok := f.since("other", done.Add(-time.Millisecond)); ok {
		t.Fatal("another payment's call was shared")
	}
}

func TestFinishedCallsForgetOldCalls(t *testing.T) {
	f := newFinishedCalls()
	start := time.Now()
	for i := range 10000 {
		f.put(string(rune('a'+i%26))+time.Duration(i).String(), observation{}, start)
	}
	f.put("late", observation{}, start.Add(3*keepFinished))
	if n := len(f.cur) + len(f.prev); n != 1 {
		t.Fatalf("%d calls remembered after they went stale", n)
	}
}

// A call is remembered for keepFinished at least, across a new period,
// and forgotten once a second new period has begun after it.
func TestFinishedCallsRememberACallForItsPeriod(t *testing.T) {
	f := newFinishedCalls()
	start := time.Now()
	f.put("early", observation{changed: true}, start)
	f.put("k", observation{changed: true}, start.Add(keepFinished-time.Millisecond))
	f.put("other", observation{}, start.Add(keepFinished)) // a new period
	if _, ok := f.since("k", start); !ok {
		t.Fatal("a call finished a moment before the new period was forgotten with the old one")
	}
	f.put("other", observation{}, start.Add(2*keepFinished)) // another
	if _, ok := f.since("k", start); ok {
		t.Fatal("a call was remembered past two new periods")
	}
	if _, ok := f.since("other", start); !ok {
		t.Fatal("the last call was forgotten")
	}
}

// A clock set back does not stop the periods: calls are still forgotten.
func TestFinishedCallsForgetAfterTheClockWentBack(t *testing.T) {
	f := newFinishedCalls()
	start := time.Now()
	f.put("before", observation{}, start)
	back := start.Add(-time.Hour)
	f.put("k", observation{}, back)
	f.put("other", observation{}, back.Add(keepFinished))
	f.put("other", observation{}, back.Add(2*keepFinished))
	if _, ok := f.since("before", start.Add(-time.Millisecond)); ok {
		t.Fatal("a call from before the clock went back is still remembered two periods later")
	}
	if _, ok := f.since("k", back.Add(-time.Millisecond)); ok {
		t.Fatal("a call was remembered for more than two periods after the clock went back")
	}
}
