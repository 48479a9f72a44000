package coinbar_test

import (
	"net/url"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/fake"
	"github.com/paybridge/paybridge/providers/providertest"
)

const (
	testClientID  = "cb-client-3f9a1c2e"
	testSecretKey = "cb-secret-77d2e0b4"
)

// harness is CoinbarPay for the shared provider tests: a fake that checks
// the SIGNATURE when secretKey is not empty, and a client that signs with
// it. TestTransport adds what only its scenarios need.
func harness(secretKey string) providertest.Harness {
	return providertest.Harness{
		Name: coinbar.Name,
		NewFake: func() (*fake.Engine, error) {
			f, err := coinbar.NewFake(testClientID, secretKey)
			if err != nil {
				return nil, err
			}
			return f.Engine, nil
		},
		NewClient: newClient(testClientID, secretKey),
		Payment: fake.Payment{
			Amount: "8.99", Currency: "EUR",
			CryptoAmount: "0.00045145423250897323", CryptoCoin: "BTC",
		},
		Pending:   fake.Step{Status: "PENDING"},
		Paid:      fake.Step{Status: "SUCCESS"},
		StatusURI: func(id string) string { return coinbar.PathPrefix + url.PathEscape(id) + "/status" },
	}
}

// newClient builds clients with the given credentials.
func newClient(clientID, secretKey string) func(string, ...providers.HTTPOption) (paybridge.Provider, error) {
	return func(baseURL string, opts ...providers.HTTPOption) (paybridge.Provider, error) {
		return coinbar.New(baseURL, clientID, coinbar.WithSecretKey(secretKey), coinbar.WithHTTPOptions(opts...))
	}
}
