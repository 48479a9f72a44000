package bridge

import (
	"sync"
	"time"
)

// recentChecks remembers when this instance last asked the provider about
// a payment whose stored record was then at a given revision. Unchanged
// statuses are not written back (SPEC section 7), so without this a
// record's own time says only when its status last changed, and max_age
// could never be met by a status confirmed since.
type recentChecks struct {
	mu    sync.Mutex
	limit int
	m     map[string]recentCheck
}

type recentCheck struct {
	rev uint64
	at  time.Time
}

func newRecentChecks(limit int) *recentChecks {
	return &recentChecks{limit: limit, m: make(map[string]recentCheck)}
}

// note records a provider answer confirming the record at rev.
func (r *recentChecks) note(key string, rev uint64, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.m) >= r.limit {
		// Forget about half, chosen by map order: cheap, and a forgotten
		// entry only costs one extra provider call.
		n := len(r.m) / 2
		for k := range r.m {
			if n == 0 {
				break
			}
			delete(r.m, k)
			n--
		}
	}
	r.m[key] = recentCheck{rev: rev, at: at}
}

// checkedAt returns when the record at rev was last confirmed: the later
// of its own observation time and a check noted for that same revision.
func (r *recentChecks) checkedAt(key string, rev uint64, observed time.Time) time.Time {
	r.mu.Lock()
	c, ok := r.m[key]
	r.mu.Unlock()
	if ok && c.rev == rev && c.at.After(observed) {
		return c.at
	}
	return observed
}
