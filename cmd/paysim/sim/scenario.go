package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/all"
	"github.com/paybridge/paybridge/providers/fake"
)

// Scenario is the payments each provider's fake serves, by provider name:
// the default account's.
type Scenario map[string][]fake.Payment

// AccountScenario is the payments of merchant accounts, by provider and
// account name.
type AccountScenario map[string]map[string][]fake.Payment

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
// is a Go duration; a step without "for" or "calls" holds forever. A
// payment with "account": "shop-a" is that merchant account's (paysim
// --accounts-dir must then have it), not the default account's; one id
// may be used once per account (testdata/scenario-accounts.json).
type scenarioFile map[string][]paymentFile

// Amounts stay raw until decoded, so a bad one is reported with its payment.
type paymentFile struct {
	ID           string          `json:"id"`
	Account      string          `json:"account"`
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

// LoadScenario reads a scenario file: the default accounts' payments and
// the merchant accounts'.
func LoadScenario(path string) (Scenario, AccountScenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("scenario: %w", err)
	}
	s, accounts, err := ParseScenario(bytes.NewReader(b))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, accounts, nil
}

// ParseScenario decodes a scenario, refusing unknown fields, bad amounts
// or durations, bad account names and ids used twice in one account, with
// an error that names the payment.
func ParseScenario(r io.Reader) (Scenario, AccountScenario, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var f scenarioFile
	if err := dec.Decode(&f); err != nil {
		return nil, nil, fmt.Errorf("scenario: %w", err)
	}
	if dec.More() {
		return nil, nil, errors.New("scenario: unexpected data after the JSON object")
	}
	for name := range f {
		if _, ok := all.Lookup(name); !ok {
			return nil, nil, fmt.Errorf("scenario: unknown provider %q (%s)", name, knownProviders())
		}
	}
	s, accounts := Scenario{}, AccountScenario{}
	for _, d := range all.List {
		if _, ok := f[d.Name]; !ok {
			continue
		}
		byAccount, err := convertPayments(d.Name, f[d.Name])
		if err != nil {
			return nil, nil, err
		}
		for account, payments := range byAccount {
			if account == "" {
				s[d.Name] = payments
				continue
			}
			if accounts[d.Name] == nil {
				accounts[d.Name] = map[string][]fake.Payment{}
			}
			accounts[d.Name][account] = payments
		}
	}
	return s, accounts, nil
}

// convertPayments converts a provider's payments, by account ("" for the
// default).
func convertPayments(provider string, in []paymentFile) (map[string][]fake.Payment, error) {
	out := map[string][]fake.Payment{}
	seen := map[string]map[string]bool{} // by account
	for i, pf := range in {
		p, err := pf.payment()
		if err == nil {
			err = p.Validate()
		}
		if problem := paybridge.AccountProblem(pf.Account); err == nil && pf.Account != "" && problem != "" {
			err = fmt.Errorf("account %q: its name %s", pf.Account, problem)
		}
		if err == nil && seen[pf.Account][p.ID] {
			err = errors.New("the id is used twice")
			if pf.Account != "" {
				err = fmt.Errorf("the id is used twice in account %s", pf.Account)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("scenario: %s payment %d (id %q): %w", provider, i+1, pf.ID, err)
		}
		if seen[pf.Account] == nil {
			seen[pf.Account] = map[string]bool{}
		}
		seen[pf.Account][p.ID] = true
		out[pf.Account] = append(out[pf.Account], p)
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
