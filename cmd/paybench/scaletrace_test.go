package main

import (
	"testing"
	"time"
)

// The bridge has settled from the first whole second after which it used
// less than 1% of a core for 3 s; a busy or short trace never settled.
func TestSettlePoint(t *testing.T) {
	busyThenIdle := func(busy time.Duration, perSecond time.Duration, length time.Duration) []procSample {
		var trace []procSample
		var cpu time.Duration
		for at := time.Duration(0); at <= length; at += traceEvery {
			if at <= busy {
				cpu = at / 2 // half a core
			} else {
				cpu = busy/2 + (at-busy)*perSecond/time.Second
			}
			trace = append(trace, procSample{at: at, cpu: cpu, rss: 1})
		}
		return trace
	}
	at, cpu, ok := settlePoint(busyThenIdle(4*time.Second, 0, 10*time.Second))
	if !ok || at != 4*time.Second || cpu != 2*time.Second {
		t.Errorf("busy 4 s then idle: want settled at 4s after 2s of CPU, got %v %v %v", at, cpu, ok)
	}
	if _, _, ok := settlePoint(busyThenIdle(4*time.Second, 20*time.Millisecond, 10*time.Second)); ok {
		t.Error("2% of a core after the busy start is not settled")
	}
	if _, _, ok := settlePoint(busyThenIdle(0, 0, 2*time.Second)); ok {
		t.Error("a trace shorter than 3 s cannot show 3 quiet seconds")
	}
}
