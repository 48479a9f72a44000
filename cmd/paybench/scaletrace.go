package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// procSample is a process's memory and CPU time used, at an offset from
// its start.
type procSample struct {
	at  time.Duration
	rss int64
	cpu time.Duration
}

// traceEvery is how often a starting bridge's RSS and CPU are read.
const traceEvery = 100 * time.Millisecond

// traceProcess reads the bridge's RSS and CPU time every traceEvery from
// now until window after its start; the last sample is at the window's
// end. A bridge that exits meanwhile is an error.
func traceProcess(ctx context.Context, s *subprocess, window time.Duration) ([]procSample, error) {
	var trace []procSample
	for {
		at := min(time.Since(s.started), window) // a late last read stands for the end
		rss, err1 := readRSS(s.pid())
		cpu, err2 := readCPU(s.pid())
		if err := errors.Join(err1, err2); err != nil {
			select { // most likely the process is gone
			case <-s.exited:
				return nil, s.exitedError()
			case <-time.After(time.Second):
				return nil, fmt.Errorf("reading the bridge's RSS and CPU: %w", err)
			}
		}
		trace = append(trace, procSample{at: at, rss: rss, cpu: cpu})
		if at >= window {
			return trace, nil
		}
		t := time.NewTimer(min(traceEvery, window-time.Since(s.started)))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// What "settled" means for a restarted bridge's CPU: less than settleShare
// of one core on average over settleSpan.
const (
	settleShare = 0.01
	settleSpan  = 3 * time.Second
)

// settlePoint finds the first whole second of the trace after which the
// process used less than settleShare of a core over the next settleSpan,
// and the CPU time it had used until then; ok is false when the trace
// holds no such second.
func settlePoint(trace []procSample) (at, cpu time.Duration, ok bool) {
	if len(trace) == 0 {
		return 0, 0, false
	}
	end := trace[len(trace)-1].at
	budget := time.Duration(settleShare * float64(settleSpan))
	for at = 0; at+settleSpan <= end; at += time.Second {
		if cpuAt(trace, at+settleSpan)-cpuAt(trace, at) < budget {
			return at, cpuAt(trace, at), true
		}
	}
	return 0, 0, false
}

// cpuAt is the CPU time of the last sample at or before at (0 before the
// first).
func cpuAt(trace []procSample, at time.Duration) time.Duration {
	var cpu time.Duration
	for _, s := range trace {
		if s.at > at {
			break
		}
		cpu = s.cpu
	}
	return cpu
}

// peakRSS is the highest RSS of the trace.
func peakRSS(trace []procSample) int64 {
	var peak int64
	for _, s := range trace {
		peak = max(peak, s.rss)
	}
	return peak
}
