package main

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/fake"
)

// payment is one id as a check names it, with what is sent for it built
// once: the request body and the path paysim sees.
type payment struct {
	provider string
	d        *providers.Descriptor // the provider's
	id       string
	body     []byte // the check request
	path     string // the provider status URL's path, as the client escapes it
}

func newPayment(d *providers.Descriptor, id string, maxAge time.Duration) *payment {
	provider := d.Name
	req := struct {
		Provider  string `json:"provider"`
		PaymentID string `json:"payment_id"`
		MaxAge    string `json:"max_age,omitempty"`
	}{Provider: provider, PaymentID: id}
	if maxAge > 0 {
		req.MaxAge = maxAge.String()
	}
	body, _ := json.Marshal(req) // strings only: cannot fail
	return &payment{provider: provider, d: d, id: id, body: body, path: d.Sim.StatusPath(id)}
}

// pool is the payments a run checks, in turn: slot i is of the i-th of
// the --provider providers, round and round. With a simulator it also
// moves a share of them to another status after each pass over all of
// them.
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

// slot is one payment position. A slot of a provider without a step
// that means underpaid moves from pending to paid, and once paid is
// reborn under a new id (generation) to become pending again, since the
// bridge rightly ignores a settled payment turning pending (a stale read).
type slot struct {
	current    atomic.Pointer[payment]
	base       string
	generation int
	moved      bool // underpaid or paid now
}

// simulator is the part of paysim the pool scripts.
type simulator interface {
	Fake(provider string) *fake.Engine
}

func newPool(o options, sim simulator) (*pool, error) {
	p := &pool{slots: make([]slot, o.payments), maxAge: o.maxAge, sim: sim}
	if sim != nil {
		p.changeEvery = int(o.changeShare*float64(o.payments) + 0.5)
	}
	for i := range p.slots {
		d := &o.providers[i%len(o.providers)]
		s := &p.slots[i]
		s.base = fmt.Sprintf("%s%s-%04d", o.prefix, d.Name, i+1)
		s.current.Store(newPayment(d, s.base, o.maxAge))
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
	fp := pay.d.Sim.Payment
	fp.ID, fp.Steps = pay.id, []fake.Step{pay.d.Sim.Pending}
	return p.sim.Fake(pay.provider).Add(fp)
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
// pending ⇄ underpaid for a provider with a step that means underpaid (its
// descriptor's Sim.Underpaid); else
// pending → paid, and a paid slot is reborn pending under a new id (a
// first sight, which is also announced). Each is exactly one event when
// checked.
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
	sim := cur.d.Sim
	s.moved = !s.moved
	if sim.Underpaid.Status != "" {
		step := sim.Pending
		if s.moved {
			step = sim.Underpaid
		}
		return p.sim.Fake(cur.provider).Set(cur.id, step)
	}
	if s.moved {
		return p.sim.Fake(cur.provider).Set(cur.id, sim.Paid)
	}
	s.generation++
	next := newPayment(cur.d, fmt.Sprintf("%s-g%d", s.base, s.generation), p.maxAge)
	if err := p.addPending(next); err != nil {
		return err
	}
	s.current.Store(next)
	return nil
}
