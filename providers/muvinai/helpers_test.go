package muvinai_test

import (
	"net/http"
	"net/url"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/fake"
	"github.com/paybridge/paybridge/providers/muvinai"
	"github.com/paybridge/paybridge/providers/providertest"
)

const testAPIKey = "sf_api_key_5c81f0d2"

// harness is Muvinai for the shared provider tests: a fake that accepts
// testAPIKey as its bearer token, and a client that sends it.
func harness() providertest.Harness {
	return providertest.Harness{
		Name: muvinai.Name,
		NewFake: func() (*fake.Engine, error) {
			f, err := muvinai.NewFake(testAPIKey)
			if err != nil {
				return nil, err
			}
			return f.Engine, nil
		},
		NewClient: newClient(testAPIKey),
		Payment:   fake.Payment{Amount: "19913.425", Currency: "ARS"},
		Pending:   fake.Step{Status: "pending"},
		Paid:      fake.Step{Status: "approved", Detail: "correct"},
		StatusURI: func(id string) string { return muvinai.PathPrefix + url.PathEscape(id) },
		Header: http.Header{
			"Authorization": {"Bearer " + testAPIKey},
			"Accept":        {"application/json"},
		},
		Secrets: []string{testAPIKey},
		BadCredentials: []providertest.BadCredential{
			{Name: "wrong API key", New: newClient("sf_api_key_wrong"), Secret: "sf_api_key_wrong"},
		},
	}
}

// newClient builds clients sending apiKey.
func newClient(apiKey string) func(string, ...providers.HTTPOption) (paybridge.Provider, error) {
	return func(baseURL string, opts ...providers.HTTPOption) (paybridge.Provider, error) {
		return muvinai.New(baseURL, apiKey, muvinai.WithHTTPOptions(opts...))
	}
}
