package muvinai

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/fake"
)

// Descriptor is Muvinai as the binary, the simulator and the tests see it
// (providers.Descriptor).
var Descriptor = providers.Descriptor{
	Name:           Name,
	Title:          "Muvinai (SimpleFi)",
	DefaultBaseURL: DefaultBaseURL,
	RateExample:    "5/1s",
	Credentials: []providers.Credential{
		{Name: "api-key", Required: true, Secret: true, Usage: "Muvinai API key (bearer token); enables Muvinai"},
		{Name: "webhook-token", Secret: true, Usage: "token a Muvinai webhook URL must carry (?token=); empty refuses Muvinai webhooks"},
	},
	New: func(baseURL string, creds providers.Credentials, opts ...providers.HTTPOption) (paybridge.Provider, error) {
		return New(baseURL, creds["api-key"], WithWebhookToken(creds["webhook-token"]), WithHTTPOptions(opts...))
	},
	Sim: providers.Sim{
		PathPrefix: PathPrefix,
		StatusPath: func(id string) string { return PathPrefix + url.PathEscape(id) },
		Checks:     []string{"api-key"},
		NewFake: func(creds providers.Credentials, opts ...fake.Option) (*fake.Engine, error) {
			f, err := NewFake(creds["api-key"], opts...)
			if err != nil {
				return nil, err
			}
			return f.Engine, nil
		},
		Sample:    sample,
		Payment:   fake.Payment{Amount: "15000.50", Currency: "ARS"},
		Pending:   fake.Step{Status: "pending", Detail: "not_paid", AmountPaid: "0"},
		Paid:      fake.Step{Status: "approved", Detail: "correct", AmountPaid: "15000.50"},
		Underpaid: fake.Step{Status: "pending", Detail: "underpaid", AmountPaid: "7500.25"},
		Curl: func(statusURL string, vars map[string]string) []string {
			return []string{fmt.Sprintf(`curl -H "Authorization: Bearer $%s" %s`, vars["api-key"], statusURL)}
		},
	},
}

// sample is a payment request of 1,000 to 100,000 ARS, pending for
// 10–40 s, then mostly paid, else overpaid, underpaid until it expires,
// expired, canceled or refunded.
func sample(rng *rand.Rand, id string) fake.Payment {
	amount := fake.Cents(100_000 + rng.Int64N(9_900_000))
	half, extra := fake.Ratio(amount, "2", 2), fake.Ratio(amount, "0.9", 2)
	endings := []fake.Ending{
		{Weight: 55, Steps: []fake.Step{{Status: "approved", Detail: "correct", AmountPaid: amount}}},
		{Weight: 10, Steps: []fake.Step{{Status: "approved", Detail: "overpaid", AmountPaid: extra}}},
		{Weight: 10, Steps: []fake.Step{
			{Status: "pending", Detail: "underpaid", AmountPaid: half, For: 15 * time.Second},
			{Status: "expired", Detail: "underpaid", AmountPaid: half},
		}},
		{Weight: 15, Steps: []fake.Step{{Status: "expired", Detail: "not_paid", AmountPaid: "0"}}},
		{Weight: 5, Steps: []fake.Step{{Status: "canceled", Detail: "not_paid", AmountPaid: "0"}}},
		{Weight: 5, Steps: []fake.Step{
			{Status: "approved", Detail: "correct", AmountPaid: amount, For: 20 * time.Second},
			{Status: "refunded", Detail: "correct", AmountPaid: amount},
		}},
	}
	pending := time.Duration(10+rng.IntN(31)) * time.Second
	steps := []fake.Step{{Status: "pending", Detail: "not_paid", AmountPaid: "0", For: pending}}
	return fake.Payment{ID: id, Amount: amount, Currency: "ARS", Steps: append(steps, fake.PickEnding(rng, endings)...)}
}
