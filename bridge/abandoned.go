package bridge

import "sync"

// maxAbandoned bounds the abandoned claims remembered; past it, the
// reconciler alone takes care of further ones after their grace period.
const maxAbandoned = 4096

// abandonedClaims are the claims this instance made and could not
// announce (its publish failed). Nobody is publishing them, so the next
// check of the payment may do it at once instead of waiting for the grace
// period a claim of another instance gets.
type abandonedClaims struct {
	mu sync.Mutex
	m  map[string]string // key → event id
}

func newAbandonedClaims() *abandonedClaims {
	return &abandonedClaims{m: make(map[string]string)}
}

func (a *abandonedClaims) add(key, eventID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.m) < maxAbandoned {
		a.m[key] = eventID
	}
}

func (a *abandonedClaims) has(key, eventID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.m[key] == eventID
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
	if a.m[key] == eventID {
		delete(a.m, key)
	}
}
