package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/fake"
	"github.com/paybridge/paybridge/providers/muvinai"
)

// payment is one id as a check names it, with what is sent for it built
// once: the request body and the path paysim sees.
type payment struct {
	provider string
	id       string
	body     []byte // the check request
	path     string // the provider status URL's path, as the client escapes it
}

func newPayment(provider, id string, maxAge time.Duration) *payment {
	req := struct {
		Provider  string `json:"provider"`
		PaymentID string `json:"payment_id"`
		MaxAge    string `json:"max_age,omitempty"`
	}{Provider: provider, PaymentID: id}
	if maxAge > 0 {
		req.MaxAge = maxAge.String()
	}
	body, _ := json.Marshal(req) // strings only: cannot fail
	path := muvinai.PathPrefix + url.PathEscape(id)
	if provider == coinbar.Name {
		path = coinbar.PathPrefix + url.PathEscape(id) + "/status"
	}
	return &payment{provider: provider, id: id, body: body, path: path}
}

// pool is the payments a run checks, in turn: slot i is coinbar or muvinai
// (alternating with --provider both). With a simulator it also moves a
// share of them to another status after each pass over all of them.
type pool struct {
	slots  []slot
	next   atomic.Uint64
	maxAge time.Duration

	sim         simulator // nil: the payments are not ours to change
	changeEvery int       // slots changed per pass
	mu          sync.Mutex
	passes      int
	changes     atomic.Int64
}

// slot is one payment position. A coinbar slot that has settled is reborn
// under a new id (generation) to become pending again, since the bridge
// rightly ignores a settled payment turning pending (a stale read).
type slot struct {
	current    atomic.Pointer[payment]
	base       string
	generation int
	settled    bool // coinbar: SUCCESS now; muvinai: underpaid now
}

// simulator is the part of paysim the pool scripts.
type simulator interface {
	Coinbar() *coinbar.Fake
	Muvinai() *muvinai.Fake
}

// The amounts of every simulated payment.
const (
	coinbarAmount       = "8.99"
	coinbarCryptoAmount = "0.00045145423250897323"
	muvinaiAmount       = "15000.50"
	muvinaiHalf         = "7500.25"
)

func newPool(o options, sim simulator) (*pool, error) {
	p := &pool{slots: make([]slot, o.payments), maxAge: o.maxAge, sim: sim}
	if sim != nil {
		p.changeEvery = int(o.changeShare*float64(o.payments) + 0.5)
	}
	for i := range p.slots {
		provider := o.provider
		if provider == "both" {
			provider = []string{coinbar.Name, muvinai.Name}[i%2]
		}
		s := &p.slots[i]
		s.base = fmt.Sprintf("%s%s-%04d", o.prefix, provider, i+1)
		s.current.Store(newPayment(provider, s.base, o.maxAge))
		if sim == nil {
			continue
		}
		if err := p.addPending(s.current.Load()); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// addPending adds a payment to paysim, pending until the pool moves it.
func (p *pool) addPending(pay *payment) error {
	if pay.provider == coinbar.Name {
		return p.sim.Coinbar().Add(fake.Payment{ID: pay.id, Amount: coinbarAmount, Currency: "EUR",
			CryptoAmount: coinbarCryptoAmount, CryptoCoin: "BTC",
			Steps: []fake.Step{{Status: "PENDING", Detail: "Waiting for payment"}}})
	}
	return p.sim.Muvinai().Add(fake.Payment{ID: pay.id, Amount: muvinaiAmount, Currency: "ARS",
		Steps: []fake.Step{{Status: "pending", Detail: "not_paid", AmountPaid: "0"}}})
}

// take returns the payment to check next; the first of each pass over
// all payments after the first pass moves a share of them first.
func (p *pool) take() (*payment, error) {
	n := p.next.Add(1) - 1
	i := int(n % uint64(len(p.slots)))
	if i == 0 && n > 0 && p.changeEvery > 0 {
		if err := p.change(); err != nil {
			return nil, err
		}
	}
	return p.slots[i].current.Load(), nil
}

// first returns slot 0's payment without taking a turn.
func (p *pool) first() *payment { return p.slots[0].current.Load() }

// restart makes the next take the first of a pass again, without a change.
func (p *pool) restart() { p.next.Store(0) }

// change moves the next window of changeEvery slots to their other status:
// muvinai pending/not_paid ⇄ pending/underpaid (a pending → underpaid →
// pending change each time); coinbar PENDING → SUCCESS (pending → paid),
// and a settled coinbar slot is reborn pending under a new id (a first
// sight, which is also announced). Each is exactly one event when checked.
func (p *pool) change() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	start := p.passes * p.changeEvery
	p.passes++
	for k := range p.changeEvery {
		s := &p.slots[(start+k)%len(p.slots)]
		if err := p.move(s); err != nil {
			return err
		}
		p.changes.Add(1)
	}
	return nil
}

func (p *pool) move(s *slot) error {
	cur := s.current.Load()
	s.settled = !s.settled
	if cur.provider == muvinai.Name {
		step := fake.Step{Status: "pending", Detail: "not_paid", AmountPaid: "0"}
		if s.settled {
			step = fake.Step{Status: "pending", Detail: "underpaid", AmountPaid: muvinaiHalf}
		}
		return p.sim.Muvinai().Set(cur.id, step)
	}
	if s.settled {
		return p.sim.Coinbar().Set(cur.id, fake.Step{Status: "SUCCESS"})
	}
	s.generation++
	next := newPayment(cur.provider, fmt.Sprintf("%s-g%d", s.base, s.generation), p.maxAge)
	if err := p.addPending(next); err != nil {
		return err
	}
	s.current.Store(next)
	return nil
}
