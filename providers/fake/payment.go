package fake

import (
	"errors"
	"fmt"
	"time"

	"github.com/paybridge/paybridge"
)

// Payment is one payment the fake provider knows: fixed fields plus a
// script of Steps it walks through as it is asked about it.
type Payment struct {
	ID string
	// Amount and Currency are what the payer owes, e.g. "8.99" and "EUR".
	// Amounts are decimal strings and are rendered as JSON numbers with
	// exactly this text.
	Amount   string
	Currency string
	// CryptoAmount and CryptoCoin are what the payer sends on chain, for
	// providers that name one coin (CoinbarPay). Optional.
	CryptoAmount string
	CryptoCoin   string
	// CreatedAt is the provider's creation time; zero means when added.
	CreatedAt time.Time
	// Steps is the script; the first step begins when the payment is added
	// and the last one holds forever.
	Steps []Step
}

// Step is one state of a payment in the provider's own raw words, and how
// long it holds. A step ends after Calls responses or when For has passed
// since it began, whichever comes first; a step with neither holds until
// the test changes it with Set.
type Step struct {
	Status string
	// Detail is the provider's second word on the status, when it has one
	// (CoinbarPay's status_descr, Muvinai's status_detail); a provider
	// whose status is one word leaves it empty.
	Detail string
	// AmountPaid is a decimal string; empty when the provider says nothing.
	AmountPaid string
	Calls      int
	For        time.Duration
}

// State is what a provider's renderer needs to answer for a payment now.
type State struct {
	Payment Payment // the fixed fields; Steps is nil
	Step    Step    // the current step
	// Since is when the current step began: the provider's last-modified time.
	Since time.Time
}

// Validate reports the first problem that keeps p from being served: an
// empty id or currency, an amount that is not a decimal, no steps, or a
// negative step limit. The error does not repeat the id.
func (p Payment) Validate() error {
	switch {
	case p.ID == "":
		return errors.New("payment id must not be empty")
	case p.Currency == "":
		return errors.New("currency must not be empty")
	}
	if err := checkDecimal("amount", p.Amount, true); err != nil {
		return err
	}
	if err := checkDecimal("crypto amount", p.CryptoAmount, false); err != nil {
		return err
	}
	return validateSteps(p.Steps)
}

func validateSteps(steps []Step) error {
	if len(steps) == 0 {
		return errors.New("a payment needs at least one step")
	}
	for i, s := range steps {
		if s.Calls < 0 || s.For < 0 {
			return fmt.Errorf("step %d: calls and for must not be negative", i+1)
		}
		if err := checkDecimal("amount paid", s.AmountPaid, false); err != nil {
			return fmt.Errorf("step %d: %w", i+1, err)
		}
	}
	return nil
}

func checkDecimal(name, v string, required bool) error {
	switch {
	case v == "" && required:
		return fmt.Errorf("%s must not be empty", name)
	case v != "" && !paybridge.IsDecimal(v):
		return fmt.Errorf("%s %q is not a decimal number", name, v)
	}
	return nil
}

// script is a payment's progress through its steps.
type script struct {
	payment Payment
	current int
	since   time.Time // when the current step began
	served  int       // responses served in the current step
}

func newScript(p Payment, now time.Time) *script {
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now
	}
	return &script{payment: p, since: now}
}

// advance moves past every step that has ended by now. A step ended by
// time begins the next one at its own end, so a script of For steps keeps
// to the clock however rarely it is asked.
func (s *script) advance(now time.Time) {
	for s.current < len(s.payment.Steps)-1 {
		step := s.payment.Steps[s.current]
		switch {
		case step.For > 0 && !now.Before(s.since.Add(step.For)):
			s.since = s.since.Add(step.For)
		case step.Calls > 0 && s.served >= step.Calls:
			s.since = now
		default:
			return
		}
		s.current++
		s.served = 0
	}
}

// serve advances the script and counts one response of the current step.
func (s *script) serve(now time.Time) State {
	s.advance(now)
	s.served++
	p := s.payment
	p.Steps = nil
	return State{Payment: p, Step: s.payment.Steps[s.current], Since: s.since}
}

func (s *script) replace(steps []Step, now time.Time) {
	s.payment.Steps = steps
	s.current, s.served, s.since = 0, 0, now
}
