package bridge

import (
	"slices"
	"sync"

	"github.com/paybridge/paybridge"
)

// Accounts are the merchant accounts a bridge serves beside each
// provider's default one (docs/contract.md, "Accounts"): a platform holds
// one set of credentials per shop. It is safe for concurrent use, and
// what it answers may change while the bridge runs (an account added, its
// key rotated, or removed).
type Accounts interface {
	// Providers names the providers that have accounts; the bridge serves
	// them as it serves those it has a default client for. New asks once.
	Providers() []string
	// Account returns the client and call budget of provider's account
	// name; false when it has none.
	Account(provider, name string) (Account, bool)
	// WebhookAccount returns the name of provider's account whose webhook
	// credential (CoinbarPay's client id, Muvinai's webhook token) is
	// credential, comparing in constant time; false when none is, or when
	// several accounts share it: then the name names them all, so that a
	// callback with it is not taken for another account's (the default's).
	WebhookAccount(provider, credential string) (string, bool)
	// Count is how many accounts provider has now.
	Count(provider string) int
	// Receiver reads provider's callbacks, when it takes them: the client
	// of any of its accounts (reading a callback takes no credential); nil
	// when it has none.
	Receiver(provider string) paybridge.WebhookReceiver
}

// Account is one merchant account of a provider: the client that asks
// with its credentials, and its call budget (zero: unlimited).
type Account struct {
	Client paybridge.Provider
	Limit  Rate
}

// merchant is what the bridge keeps of one account it serves: its client,
// and its own budget and circuit, so that one merchant's spent budget or
// revoked key never refuses another's checks.
type merchant struct {
	provider, account string // account "" is the default
	client            paybridge.Provider
	limit             Rate
	budget            *budget // nil: unlimited
	circuit           *breaker
}

// merchants finds the merchant of a payment: a provider's default account
// is a client given to New, any other comes from Config.Accounts and is
// kept while its client and budget stay what Accounts says.
type merchants struct {
	defaults   map[string]*merchant // by provider, for those with a default client
	accounts   Accounts             // nil: none
	providers  []string             // every provider served, sorted
	newCircuit func() *breaker

	mu   sync.Mutex
	used map[Payment]*merchant // by provider and account; ID empty
}

func newMerchants(defaults []paybridge.Provider, limits map[string]Rate, accounts Accounts, newCircuit func() *breaker) *merchants {
	m := &merchants{defaults: map[string]*merchant{}, accounts: accounts, newCircuit: newCircuit, used: map[Payment]*merchant{}}
	for _, p := range defaults {
		m.defaults[p.Name()] = &merchant{provider: p.Name(), client: p, limit: limits[p.Name()],
			budget: newBudget(p.Name(), limits[p.Name()]), circuit: newCircuit()}
		m.providers = append(m.providers, p.Name())
	}
	if accounts != nil {
		for _, name := range accounts.Providers() {
			if !slices.Contains(m.providers, name) {
				m.providers = append(m.providers, name)
			}
		}
	}
	slices.Sort(m.providers)
	return m
}

// served reports whether the bridge serves provider.
func (m *merchants) served(provider string) bool {
	_, ok := slices.BinarySearch(m.providers, provider)
	return ok
}

// get returns the merchant of p's account, or why there is none: the
// provider is not served (unknown_provider) or has no such account
// (unknown_account), which is said before any provider call.
func (m *merchants) get(p Payment) (*merchant, error) {
	if !m.served(p.Provider) {
		return nil, unknownProvider(p.Provider)
	}
	if p.Account == "" {
		if d := m.defaults[p.Provider]; d != nil {
			return d, nil
		}
		return nil, unknownAccount(p)
	}
	key := Payment{Provider: p.Provider, Account: p.Account}
	var a Account
	ok := m.accounts != nil
	if ok {
		a, ok = m.accounts.Account(p.Provider, p.Account)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !ok {
		delete(m.used, key)
		return nil, unknownAccount(p)
	}
	cur := m.used[key]
	switch {
	case cur == nil:
		cur = &merchant{provider: p.Provider, account: p.Account, limit: a.Limit, budget: newBudget(p.Provider+" account "+p.Account, a.Limit)}
	case cur.client == a.Client && cur.limit == a.Limit:
		return cur, nil
	case cur.limit != a.Limit:
		cur = &merchant{provider: p.Provider, account: p.Account, limit: a.Limit, budget: newBudget(p.Provider+" account "+p.Account, a.Limit)}
	default: // a rotated key: the budget stays, the circuit starts afresh
		cur = &merchant{provider: p.Provider, account: p.Account, limit: a.Limit, budget: cur.budget}
	}
	cur.client, cur.circuit = a.Client, m.newCircuit()
	m.used[key] = cur
	return cur, nil
}

// receiver reads provider's callbacks: its default client, or any client
// of its accounts (reading a callback takes no credential); nil when the
// provider takes none.
func (m *merchants) receiver(provider string) paybridge.WebhookReceiver {
	if d := m.defaults[provider]; d != nil {
		r, _ := d.client.(paybridge.WebhookReceiver)
		return r
	}
	if m.accounts != nil {
		return m.accounts.Receiver(provider)
	}
	return nil
}

// webhookAccount finds the account a callback's credential belongs to:
// the default account's (compared in constant time), else the one of
// Accounts (looked up in constant time, whatever their number). A
// credential the default account shares with accounts of Accounts cannot
// say whose payment the callback names: it is refused, and shared names
// those accounts.
func (m *merchants) webhookAccount(provider, credential string) (account string, ok bool, shared string) {
	if credential == "" {
		return "", false, ""
	}
	if d := m.defaults[provider]; d != nil {
		if r, ok := d.client.(paybridge.WebhookReceiver); ok && paybridge.SameSecret(credential, r.WebhookSecret()) {
			if m.accounts != nil {
				if name, _ := m.accounts.WebhookAccount(provider, credential); name != "" {
					return "", false, name
				}
			}
			return "", true, ""
		}
	}
	if m.accounts == nil {
		return "", false, ""
	}
	if account, ok = m.accounts.WebhookAccount(provider, credential); !ok {
		return "", false, ""
	}
	return account, true, ""
}

// count is how many accounts provider has, for the gauge.
func (m *merchants) count(provider string) int {
	if m.accounts == nil {
		return 0
	}
	return m.accounts.Count(provider)
}

// unknownProvider refuses a request naming a provider this bridge has no
// credentials for.
func unknownProvider(name string) error {
	return paybridge.Errorf(paybridge.CodeUnknownProvider, "provider %s is not configured", quoted(name))
}

// unknownAccount refuses a request naming an account its provider does not
// have here (or none, when the provider has accounts but no default).
func unknownAccount(p Payment) error {
	if p.Account == "" {
		return paybridge.Errorf(paybridge.CodeUnknownAccount, "provider %s has no default account here: name an account", quoted(p.Provider))
	}
	return paybridge.Errorf(paybridge.CodeUnknownAccount, "account %s is not configured for provider %s", quoted(p.Account), quoted(p.Provider))
}
