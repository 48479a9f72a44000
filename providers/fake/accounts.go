package fake

import (
	"net/http"
	"sync"
)

// Accounts serves the fakes of several merchant accounts of one provider
// at one address: a request goes to the fake whose credentials it
// carries, so that each account's key sees its own payments only, as a
// provider's API does. A request no fake accepts is refused by the first.
type Accounts struct {
	mu      sync.RWMutex
	engines map[string]*Engine // by account
	order   []string
}

// Set makes e the fake of account, replacing the one it had (a rotated
// key: the new fake accepts the new key only).
func (a *Accounts) Set(account string, e *Engine) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.engines == nil {
		a.engines = map[string]*Engine{}
	}
	if _, ok := a.engines[account]; !ok {
		a.order = append(a.order, account)
	}
	a.engines[account] = e
}

// Engine is account's fake; nil when it has none.
func (a *Accounts) Engine(account string) *Engine {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.engines[account]
}

func (a *Accounts) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.RLock()
	var first, to *Engine
	for _, name := range a.order {
		e := a.engines[name]
		if first == nil {
			first = e
		}
		if e.dialect.Authorized(r) {
			to = e
			break
		}
	}
	a.mu.RUnlock()
	switch {
	case to != nil:
		to.ServeHTTP(w, r)
	case first != nil:
		first.ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}
