package main

import (
	"testing"
	"time"
)

// A re-check's lag is its interval from the payment's previous call
// against the step; a payment is heard of when a call began within the
// last step and the slack; a payment's first call in the window is no
// re-check.
func TestGapTrackerMeasuresTheIntervalBetweenCalls(t *testing.T) {
	g := newGapTracker([]time.Duration{time.Second, 10 * time.Second}, 3)
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	call := func(path string, at time.Duration) { g.began(path, t0.Add(at)) }
	call("/a", 0) // before the window: no lag
	call("/b", 0)
	g.start()
	call("/a", 1200*time.Millisecond)  // 1.2 s after the first call: 200 ms late on the 1 s step
	call("/a", 11100*time.Millisecond) // 9.9 s after the second: 100 ms early on the last step
	call("/c", 12*time.Second)         // first call: no re-check
	w := g.stop(t0.Add(22*time.Second), 10*time.Second+time.Second)
	if len(w.lags) != 2 || w.lags[0] != 200*time.Millisecond || w.lags[1] != -100*time.Millisecond {
		t.Errorf("lags %v, want [200ms -100ms]", w.lags)
	}
	if w.firsts != 1 {
		t.Errorf("%d first calls, want 1", w.firsts)
	}
	if w.heard != 2 { // /a at 11.7 s and /c at 12 s; /b not since 0 s
		t.Errorf("%d payments heard of within 11 s of 22 s, want 2", w.heard)
	}
}
