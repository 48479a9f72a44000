package bridge

import (
	"sync"
	"time"
)

// finishedCalls remembers, per payment, the outcome of the last provider
// call and when it finished. A check that arrived before that moment was
// concurrent with the call, so it may share its outcome, exactly as if it
// had joined the call while in flight: singleflight alone shares a call only
// with the checks that reach it before it ends, and under load a check can
// wait its turn for a CPU for longer than a fast provider takes to answer.
//
// Calls are remembered in two generations of keepFinished each, the one
// being filled and the one before, so that forgetting costs nothing a
// call: a new period drops the older generation whole. Sweeping one map
// instead cost ~2 µs a call at 100,000 watches, where every call is of
// another payment, inserted and later deleted.
type finishedCalls struct {
	mu        sync.Mutex
	cur, prev map[string]finishedCall
	periodEnd time.Time // when cur becomes prev
}

type finishedCall struct {
	obs observation
	at  time.Time
}

// keepFinished is how long a finished call is remembered at least (under
// three times that while calls come): much longer than a check waits for a
// CPU, much shorter than anything a caller would call stale. Keeping one
// longer is harmless: since shares only calls that finished after the
// check arrived.
const keepFinished = time.Second

func newFinishedCalls() *finishedCalls {
	return &finishedCalls{cur: make(map[string]finishedCall)}
}

// put records the outcome of a call on key that finished at at.
func (f *finishedCalls) put(key string, obs observation, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// A new period when this one is over, or when the clock went back
	// (Clock's times carry no monotonic reading).
	if !at.Before(f.periodEnd) || f.periodEnd.Sub(at) > keepFinished {
		f.prev = f.cur
		if at.Sub(f.periodEnd) >= keepFinished {
			f.prev = nil // a period without calls between: all stale
		}
		f.cur = make(map[string]finishedCall, len(f.prev))
		f.periodEnd = at.Add(keepFinished)
	}
	f.cur[key] = finishedCall{obs: obs, at: at}
}

// since returns the outcome of a call on key that finished after received.
func (f *finishedCalls) since(key string, received time.Time) (observation, bool) {
	f.mu.Lock()
	c, ok := f.cur[key]
	if !ok {
		c, ok = f.prev[key]
	}
	f.mu.Unlock()
	if !ok || !c.at.After(received) {
		return observation{}, false
	}
	return c.obs, true
}
