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
type finishedCalls struct {
	mu        sync.Mutex
	m         map[string]finishedCall
	nextSweep time.Time
}

type finishedCall struct {
	obs observation
	at  time.Time
}

// keepFinished is how long a finished call is remembered: much longer than
// a check waits for a CPU, much shorter than anything a caller would call
// stale.
const keepFinished = time.Second

func newFinishedCalls() *finishedCalls {
	return &finishedCalls{m: make(map[string]finishedCall)}
}

// put records the outcome of a call on key that finished at at.
func (f *finishedCalls) put(key string, obs observation, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if at.After(f.nextSweep) {
		// Once per keepFinished, so the map holds at most two periods'
		// worth of calls and a put costs O(1) amortized.
		for k, c := range f.m {
			if at.Sub(c.at) > keepFinished {
				delete(f.m, k)
			}
		}
		f.nextSweep = at.Add(keepFinished)
	}
	f.m[key] = finishedCall{obs: obs, at: at}
}

// since returns the outcome of a call on key that finished after received.
func (f *finishedCalls) since(key string, received time.Time) (observation, bool) {
	f.mu.Lock()
	c, ok := f.m[key]
	f.mu.Unlock()
	if !ok || !c.at.After(received) {
		return observation{}, false
	}
	return c.obs, true
}
