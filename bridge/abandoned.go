package bridge

import (
	"sync"
	"time"
)

// maxAbandoned bounds the abandoned claims remembered; past it, the
// reconciler alone takes care of further ones after their grace period.
const maxAbandoned = 4096

// abandonedClaims are the claims this instance made and could not
// announce (its publish failed). Nobody is publishing them, so the next
// check of the payment may do it at once instead of waiting for the grace
// period a claim of another instance gets. Past that grace period a claim
// is overdue anyway: an entry older than it tells nothing more, and is
// forgotten when room is needed, whoever announced its claim since.
type abandonedClaims struct {
	grace time.Duration
	now   func() time.Time

	mu sync.Mutex
	m  map[string]abandonedClaim // by key
}

type abandonedClaim struct {
	eventID string
	at      time.Time // when it was given up
}

func newAbandonedClaims(grace time.Duration, now func() time.Time) *abandonedClaims {
	return &abandonedClaims{grace: grace, now: now, m: make(map[string]abandonedClaim)}
}

func (a *abandonedClaims) add(key, eventID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if len(a.m) >= maxAbandoned {
		for k, c := range a.m {
			if now.Sub(c.at) >= a.grace {
				delete(a.m, k)
			}
		}
	}
	if len(a.m) < maxAbandoned {
		a.m[key] = abandonedClaim{eventID: eventID, at: now}
	}
}

func (a *abandonedClaims) has(key, eventID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.m[key]
	return ok && c.eventID == eventID
}

// hasKey reports whether this instance gave up on some claim of key.
func (a *abandonedClaims) hasKey(key string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.m[key]
	return ok
}

// remove forgets the claim once it is announced.
func (a *abandonedClaims) remove(key, eventID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m[key].eventID == eventID {
		delete(a.m, key)
	}
}
