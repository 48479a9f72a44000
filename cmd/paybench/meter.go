package main

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// providerMeter wraps paysim's handler: it counts provider calls and, when
// timing is on, remembers how long paysim took to handle the latest
// request for each path (its configured latency included), so that a
// check's reply time can be split into provider time and added time.
type providerMeter struct {
	next   http.Handler
	calls  atomic.Int64
	timing atomic.Bool
	latest sync.Map // escaped path → handled
	// gaps, when set, follows the time between calls for each path.
	gaps atomic.Pointer[gapTracker]
}

// handled is one request as paysim's handler saw it.
type handled struct {
	start time.Time
	took  time.Duration
}

func (m *providerMeter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if g := m.gaps.Load(); g != nil {
		g.note(r.URL.EscapedPath(), start)
	}
	m.next.ServeHTTP(w, r)
	m.calls.Add(1)
	if m.timing.Load() {
		m.latest.Store(r.URL.EscapedPath(), handled{start: start, took: time.Since(start)})
	}
}

// handledAfter returns paysim's handling time of the latest request for
// path that began at or after sent; false when there is none (the check
// was answered without a provider call, or shared another check's call).
func (m *providerMeter) handledAfter(path string, sent time.Time) (time.Duration, bool) {
	v, ok := m.latest.Load(path)
	if !ok {
		return 0, false
	}
	h := v.(handled)
	if h.start.Before(sent) {
		return 0, false
	}
	return h.took, true
}

// gapTracker measures how late each watch's re-checks are, from outside
// the bridge: the k-th call for a payment (k from 2) should come the
// schedule's step k-1 after the one before it (the last step repeating);
// what it comes later than that is its lag. Only calls in the measured
// window, from when collect is called, are kept.
type gapTracker struct {
	schedule []time.Duration

	mu      sync.Mutex
	last    map[string]gapState // by path
	collect bool
	lags    []time.Duration // of the re-checks in the window
	firsts  int             // first calls in the window (no gap to measure)
}

type gapState struct {
	at    time.Time
	calls int
}

func newGapTracker(schedule []time.Duration, payments int) *gapTracker {
	return &gapTracker{schedule: schedule, last: make(map[string]gapState, payments)}
}

func (g *gapTracker) note(path string, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	prev, seen := g.last[path]
	g.last[path] = gapState{at: at, calls: prev.calls + 1}
	if !g.collect {
		return
	}
	if !seen {
		g.firsts++
		return
	}
	step := g.schedule[min(prev.calls-1, len(g.schedule)-1)]
	g.lags = append(g.lags, at.Sub(prev.at)-step)
}

// start begins the measured window.
func (g *gapTracker) start() {
	g.mu.Lock()
	g.collect, g.lags, g.firsts = true, nil, 0
	g.mu.Unlock()
}

// stop ends it and returns the lags seen and the first calls.
func (g *gapTracker) stop() ([]time.Duration, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.collect = false
	return g.lags, g.firsts
}
