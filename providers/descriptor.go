package providers

import (
	"math/rand/v2"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers/fake"
)

// Descriptor is everything outside a provider's package needs to know of
// it: serve's flags and secrets, the simulator, the demo, paybench, the
// tests and the docs. Each provider package exports one, providers/all
// lists them, and cmd/ iterates that list, so that adding a provider is
// its package and one line there (docs/adding-a-provider.md).
type Descriptor struct {
	// Name is the provider's name in requests, keys, subjects, metrics and
	// flags: lower-case letters and digits, such as "coinbar".
	Name string
	// Title is its name for people, such as "CoinbarPay", in help texts
	// and banners.
	Title string
	// DefaultBaseURL is the API's base URL when --<name>-base-url is not
	// given; empty for a provider without a public host, whose base URL
	// must then be given to enable it.
	DefaultBaseURL string
	// BaseURLNote, when not empty, ends the help of --<name>-base-url,
	// such as where production is when the default is a sandbox.
	BaseURLNote string
	// RateExample is a call budget that suits the provider, such as
	// "1000/24h" for a documented daily limit, for the help of --<name>-rate.
	RateExample string
	// Credentials are what a client is configured with, in the order of
	// their flags; at least one is required.
	Credentials []Credential
	// New returns a client of the API at baseURL with creds, in which
	// every required credential is set.
	New func(baseURL string, creds Credentials, opts ...HTTPOption) (paybridge.Provider, error)
	// Sim is the provider's fake, for paysim, the demo, paybench and tests.
	Sim Sim
}

// Credential is one setting of a provider's client that is not the same
// for every merchant: a key, a secret, a webhook token. Its name makes the
// flag --<provider>-<name>, the variable PAYBRIDGE_<PROVIDER>_<NAME> and,
// for a secret, PAYBRIDGE_<PROVIDER>_<NAME>_FILE.
type Credential struct {
	// Name is lower-case words joined by "-", such as "api-key"; not
	// "base-url" or "rate", which every provider has.
	Name string
	// Required credentials enable the provider: it is served when every
	// one of them is set.
	Required bool
	// Secret credentials are never shown, are blanked from every log line
	// and message, and can be read from a file.
	Secret bool
	// Usage is the flag's help.
	Usage string
}

// Credentials are credential values by credential name; an unset one is
// absent or empty.
type Credentials map[string]string

// Sim is what the simulator, the demo and paybench need of a provider's
// fake (package providers/fake), and the scripted states they use.
type Sim struct {
	// PathPrefix begins the path of every status URL. The fakes share the
	// simulator's port, so no provider's prefix may begin another's.
	PathPrefix string
	// StatusPath is the path of a payment's status URL, escaped as the
	// client sends it.
	StatusPath func(paymentID string) string
	// Checks names the credentials the fake checks, every required one
	// among them: the simulator takes each as a flag, and the demo and
	// paybench make up the required ones.
	Checks []string
	// NewFake returns a fake that accepts what a client configured with
	// the same credentials sends.
	NewFake func(creds Credentials, opts ...fake.Option) (*fake.Engine, error)
	// Sample is a payment named id, drawn from rng: pending at first, then
	// settling within about a minute as the provider's payments do (mostly
	// paid, some expired, canceled or refunded).
	Sample func(rng *rand.Rand, id string) fake.Payment
	// Payment holds the fixed fields of a scripted payment (amount,
	// currency); its ID and Steps are filled in by whoever adds it.
	Payment fake.Payment
	// Pending and Paid are steps, in the provider's own words, that mean
	// pending and paid.
	Pending, Paid fake.Step
	// Underpaid, when its Status is set, is a step that means underpaid
	// and does not end the payment, so that a payment can move from
	// Pending and back (paybench). Without it, a payment that moves is
	// paid.
	Underpaid fake.Step
	// Curl returns the shell lines that ask the fake for the status at
	// statusURL, each credential read from the shell variable vars names
	// for it (only the credentials set are in vars), for the simulator's
	// banner. They hold no credential.
	Curl func(statusURL string, vars map[string]string) []string
}

// Flag is the name of the flag of one of the provider's settings (a
// credential's name, "base-url" or "rate"): "coinbar-api-key".
func (d Descriptor) Flag(setting string) string { return d.Name + "-" + setting }

// Enabled reports whether creds hold every required credential.
func (d Descriptor) Enabled(creds Credentials) bool {
	for _, c := range d.Credentials {
		if c.Required && creds[c.Name] == "" {
			return false
		}
	}
	return true
}
