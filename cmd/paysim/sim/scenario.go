package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/all"
	"github.com/paybridge/paybridge/providers/fake"
)

// Scenario is the payments each provider's fake serves, by provider name.
type Scenario map[string][]fake.Payment

// The scenario file's JSON shape, one member per provider:
//
//	{"coinbar": [{"id": "order-1", "amount": "8.99", "currency": "EUR",
//	              "crypto_amount": "0.00045145423250897323", "crypto_coin": "BTC",
//	              "steps": [{"status": "PENDING", "for": "20s"}, {"status": "SUCCESS"}]}],
//	 "muvinai": [{"id": "pr-1", "amount": 1500, "currency": "ARS",
//	              "steps": [{"status": "pending", "detail": "not_paid", "calls": 3},
//	                        {"status": "approved", "detail": "correct", "amount_paid": "1500"}]}]}
//
// Amounts are JSON numbers or numeric strings, kept as exact text; "for"
// is a Go duration; a step without "for" or "calls" holds forever.
type scenarioFile map[string][]paymentFile

// Amounts stay raw until decoded, so a bad one is reported with its payment.
type paymentFile struct {
	ID           string          `json:"id"`
	Amount       json.RawMessage `json:"amount"`
	Currency     string          `json:"currency"`
	CryptoAmount json.RawMessage `json:"crypto_amount"`
	CryptoCoin   string          `json:"crypto_coin"`
	Steps        []stepFile      `json:"steps"`
}

type stepFile struct {
	Status     string          `json:"status"`
	Detail     string          `json:"detail"`
	AmountPaid json.RawMessage `json:"amount_paid"`
	Calls      int             `json:"calls"`
	For        string          `json:"for"`
}

// LoadScenario reads a scenario file.
func LoadScenario(path string) (Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	s, err := ParseScenario(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ParseScenario decodes a scenario, refusing unknown fields, bad amounts
// or durations and duplicate ids, with an error that names the payment.
func ParseScenario(r io.Reader) (Scenario, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var f scenarioFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	if dec.More() {
		return nil, errors.New("scenario: unexpected data after the JSON object")
	}
	for name := range f {
		if _, ok := all.Lookup(name); !ok {
			return nil, fmt.Errorf("scenario: unknown provider %q (%s)", name, knownProviders())
		}
	}
	s := Scenario{}
	for _, d := range all.List {
		if _, ok := f[d.Name]; !ok {
			continue
		}
		payments, err := convertPayments(d.Name, f[d.Name])
		if err != nil {
			return nil, err
		}
		s[d.Name] = payments
	}
	return s, nil
}

func convertPayments(provider string, in []paymentFile) ([]fake.Payment, error) {
	out := make([]fake.Payment, 0, len(in))
	seen := map[string]bool{}
	for i, pf := range in {
		p, err := pf.payment()
		if err == nil {
			err = p.Validate()
		}
		if err == nil && seen[p.ID] {
			err = errors.New("the id is used twice")
		}
		if err != nil {
			return nil, fmt.Errorf("scenario: %s payment %d (id %q): %w", provider, i+1, pf.ID, err)
		}
		seen[p.ID] = true
		out = append(out, p)
	}
	return out, nil
}

func (pf paymentFile) payment() (fake.Payment, error) {
	p := fake.Payment{ID: pf.ID, Currency: pf.Currency, CryptoCoin: pf.CryptoCoin}
	var err error
	if p.Amount, err = decimal(pf.Amount); err != nil {
		return fake.Payment{}, err
	}
	if p.CryptoAmount, err = decimal(pf.CryptoAmount); err != nil {
		return fake.Payment{}, fmt.Errorf("crypto_amount: %w", err)
	}
	for i, sf := range pf.Steps {
		step := fake.Step{Status: sf.Status, Detail: sf.Detail, Calls: sf.Calls}
		if sf.Status == "" {
			return fake.Payment{}, fmt.Errorf("step %d has no status", i+1)
		}
		if step.AmountPaid, err = decimal(sf.AmountPaid); err != nil {
			return fake.Payment{}, fmt.Errorf("step %d: amount_paid: %w", i+1, err)
		}
		if sf.For != "" {
			d, err := time.ParseDuration(sf.For)
			if err != nil || d <= 0 {
				return fake.Payment{}, fmt.Errorf("step %d: for %q is not a positive duration such as \"20s\"", i+1, sf.For)
			}
			step.For = d
		}
		p.Steps = append(p.Steps, step)
	}
	return p, nil
}

// decimal reads an amount, a JSON number or numeric string, as exact text.
func decimal(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", nil
	}
	var d providers.Decimal
	if err := json.Unmarshal(raw, &d); err != nil {
		return "", err
	}
	return string(d), nil
}
