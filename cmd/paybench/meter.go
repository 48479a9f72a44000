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
	g := m.gaps.Load()
	if g != nil {
		g.began(r.URL.EscapedPath(), start)
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

// gapTracker measures the intervals between each watch's calls, from
// outside the bridge: the k-th call for a payment (k from 2) should begin
// the schedule's step k-1 after the one before it began (the last step
// repeating); what it comes later than that is its lag. On a repeating
// step, JetStream fires the schedule a step after its previous firing, so
// the interval's excess is how much later the call came after its firing
// than the one before did; on the other steps the bridge counts the step
// from the end of its check, so the excess also holds that check's time.
// Only calls in the measured window, from start to stop, are kept.
type gapTracker struct {
	schedule []time.Duration

	mu      sync.Mutex
	last    map[string]gapState // by path
	collect bool
	lags    []time.Duration // of the re-checks in the window
	firsts  int             // first calls in the window (no gap to measure)
}

type gapState struct {
	began time.Time // when paysim began handling the payment's latest call
	calls int
}

func newGapTracker(schedule []time.Duration, payments int) *gapTracker {
	return &gapTracker{schedule: schedule, last: make(map[string]gapState, payments)}
}

// began notes a call for path that paysim began handling at at.
func (g *gapTracker) began(path string, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st, seen := g.last[path]
	prev := st.began
	st.calls++
	st.began = at
	g.last[path] = st
	switch {
	case !g.collect:
	case !seen:
		g.firsts++
	default:
		step := g.schedule[min(st.calls-2, len(g.schedule)-1)]
		g.lags = append(g.lags, at.Sub(prev)-step)
	}
}

// start begins the measured window.
func (g *gapTracker) start() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.collect, g.lags, g.firsts = true, nil, 0
}

// gapWindow is what the tracker saw in a window.
type gapWindow struct {
	lags   []time.Duration // of each re-check
	firsts int             // calls for a payment never called before
	heard  int             // payments called within the last `within` before the window's end
}

// stop ends the window at now and returns what it saw, counting the
// payments called within the last within.
func (g *gapTracker) stop(now time.Time, within time.Duration) gapWindow {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.collect = false
	w := gapWindow{lags: g.lags, firsts: g.firsts}
	for _, st := range g.last {
		if now.Sub(st.began) <= within {
			w.heard++
		}
	}
	return w
}
