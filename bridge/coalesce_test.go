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
	if n := len(f.m); n != 1 {
		t.Fatalf("%d calls remembered after they went stale", n)
	}
}
