// Package providertest holds the scenarios every provider client must pass
// against its own fake over real HTTP (retries, refusals, unreadable
// bodies, hostile ids, credentials kept out of logs), written once and run
// by each provider's tests with a Harness. It is imported only by tests.
package providertest

import (
	"errors"
	"net/http"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/fake"
)

// Harness is what differs from one provider to the next.
type Harness struct {
	// Name is the provider's name; its error messages must carry it.
	Name string
	// NewFake returns a fresh fake of the provider that accepts the
	// credentials NewClient sends. The Engine is its http.Handler.
	NewFake func() (*fake.Engine, error)
	// NewClient returns a client of the API at baseURL with the right
	// credentials and the given HTTP options.
	NewClient func(baseURL string, opts ...providers.HTTPOption) (paybridge.Provider, error)
	// Payment is what the fake is told about a payment; the scenarios fill
	// in ID and Steps.
	Payment fake.Payment
	// Pending and Paid are steps in the provider's raw words that map to
	// pending and paid.
	Pending, Paid fake.Step
	// StatusURI is the request target, still escaped, that a status request
	// for id must reach.
	StatusURI func(id string) string
	// Header holds what every status request must carry, value for value.
	Header http.Header
	// Secrets are the credentials that must never reach a log or an error.
	Secrets []string
	// BadCredentials are clients the fake must turn away.
	BadCredentials []BadCredential
}

// BadCredential is a client configured with credentials the provider
// refuses.
type BadCredential struct {
	Name string
	// New returns the client of the API at baseURL.
	New func(baseURL string, opts ...providers.HTTPOption) (paybridge.Provider, error)
	// Secret is the wrong credential, which the error must not show; empty
	// when the client sends none.
	Secret string
}

// validate refuses a harness that would make a scenario pass vacuously,
// such as an empty secret, which every string contains.
func (h Harness) validate() error {
	switch {
	case h.Name == "" || h.NewFake == nil || h.NewClient == nil || h.StatusURI == nil:
		return errors.New("needs Name, NewFake, NewClient and StatusURI")
	case h.Pending.Status == "" || h.Paid.Status == "":
		return errors.New("needs the Pending and Paid steps")
	case len(h.Header) == 0:
		return errors.New("needs the Header every request carries")
	case len(h.Secrets) == 0:
		return errors.New("needs the Secrets that must not leak")
	case len(h.BadCredentials) == 0:
		return errors.New("needs BadCredentials")
	}
	for _, s := range h.Secrets {
		if s == "" {
			return errors.New("an empty secret is found in every log")
		}
	}
	for _, b := range h.BadCredentials {
		if b.Name == "" || b.New == nil {
			return errors.New("each BadCredential needs a Name and New")
		}
	}
	return nil
}
