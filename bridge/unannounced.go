package bridge

import (
	"sync"
	"time"
)

// maxUnannounced bounds the unannounced claims remembered; past it, the
// reconciler alone takes care of further ones.
const maxUnannounced = 4096

// unannounced are the claims this instance found stored and not yet
// announced, each with when it first found it so (by its own clock), or
// gave it up itself (its publish failed). A claim is overdue, and anyone
// may announce it, once this instance gave it up (nobody is publishing
// it) or has seen it unannounced for the grace period: its claimer, if
// alive, would have announced it by then. The time is this instance's
// own, never the claimer's observed_at, so instances whose clocks differ
// still leave a claimer the whole grace period (docs/contract.md, "Clock
// skew").
type unannounced struct {
	grace time.Duration
	clock Clock

	mu sync.Mutex
	m  map[string]unannouncedClaim // by key
}

type unannouncedClaim struct {
	eventID string
	since   time.Time // first found unannounced, or given up
	ours    bool      // given up by this instance
}

func newUnannounced(grace time.Duration, clock Clock) *unannounced {
	return &unannounced{grace: grace, clock: clock, m: make(map[string]unannouncedClaim)}
}

// givenUp notes that this instance could not announce its claim.
func (u *unannounced) givenUp(key, eventID string) {
	u.put(key, unannouncedClaim{eventID: eventID, since: u.clock.Now(), ours: true})
}

// overdue reports whether anyone may announce the claim eventID of key,
// noting when it was first found unannounced.
func (u *unannounced) overdue(key, eventID string) bool {
	u.mu.Lock()
	c, ok := u.m[key]
	u.mu.Unlock()
	if !ok || c.eventID != eventID {
		u.put(key, unannouncedClaim{eventID: eventID, since: u.clock.Now()})
		return false
	}
	return c.ours || u.clock.Now().Sub(c.since) >= u.grace
}

// mayBeOverdue reports whether a claim of key, found unannounced, must be
// read to decide: false only while the one remembered is another's and
// within its grace period.
func (u *unannounced) mayBeOverdue(key string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	c, ok := u.m[key]
	return !ok || c.ours || u.clock.Now().Sub(c.since) >= u.grace
}

// put remembers c, making room when full by forgetting claims past their
// grace period (overdue anyway, and forgetting one only restarts its
// clock), never younger ones.
func (u *unannounced) put(key string, c unannouncedClaim) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, known := u.m[key]; !known && len(u.m) >= maxUnannounced {
		for k, old := range u.m {
			if c.since.Sub(old.since) >= u.grace {
				delete(u.m, k)
			}
		}
	}
	if _, known := u.m[key]; known || len(u.m) < maxUnannounced {
		u.m[key] = c
	}
}

// announced forgets the claim once it is out.
func (u *unannounced) announced(key, eventID string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m[key].eventID == eventID {
		delete(u.m, key)
	}
}
