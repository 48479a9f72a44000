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
}

// handled is one request as paysim's handler saw it.
type handled struct {
	start time.Time
	took  time.Duration
}

func (m *providerMeter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
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
