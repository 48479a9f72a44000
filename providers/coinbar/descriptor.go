package coinbar

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/fake"
)

// Descriptor is CoinbarPay as the binary, the simulator and the tests see
// it (providers.Descriptor).
var Descriptor = providers.Descriptor{
	Name:           Name,
	Title:          "CoinbarPay",
	DefaultBaseURL: DefaultBaseURL,
	BaseURLNote:    "production: https://pay.coinbar.io",
	RateExample:    "1000/24h", // the documented daily limit
	Credentials: []providers.Credential{
		{Name: "api-key", Required: true, Secret: true, Usage: "CoinbarPay SERVICE_CLIENT_ID; enables CoinbarPay"},
		{Name: "secret-key", Secret: true, Usage: "CoinbarPay SERVICE_SECRET_KEY; when set, requests are signed"},
	},
	New: func(baseURL string, creds providers.Credentials, opts ...providers.HTTPOption) (paybridge.Provider, error) {
		return New(baseURL, creds["api-key"], WithSecretKey(creds["secret-key"]), WithHTTPOptions(opts...))
	},
	Sim: providers.Sim{
		PathPrefix: PathPrefix,
		StatusPath: func(id string) string { return PathPrefix + url.PathEscape(id) + pathSuffix },
		Checks:     []string{"api-key", "secret-key"},
		NewFake: func(creds providers.Credentials, opts ...fake.Option) (*fake.Engine, error) {
			f, err := NewFake(creds["api-key"], creds["secret-key"], opts...)
			if err != nil {
				return nil, err
			}
			return f.Engine, nil
		},
		Sample: sample,
		Payment: fake.Payment{Amount: "8.99", Currency: "EUR",
			CryptoAmount: "0.00045145423250897323", CryptoCoin: "BTC"},
		Pending: fake.Step{Status: "PENDING"},
		Paid:    fake.Step{Status: "SUCCESS"},
		Curl:    curl,
	},
}

// btcEUR is the exchange rate of the sample payments, the coin_change of
// CoinbarPay's documented example.
const btcEUR = "19913.425"

// sample is a payment of 5 to 500 EUR in BTC, created, pending for
// 10–40 s, then mostly paid, else expired, canceled, refunded or failed.
func sample(rng *rand.Rand, id string) fake.Payment {
	amount := fake.Cents(500 + rng.Int64N(49_500))
	endings := []fake.Ending{
		{Weight: 60, Steps: []fake.Step{{Status: "SUCCESS"}}},
		{Weight: 15, Steps: []fake.Step{{Status: "FAILED", Detail: "Timeout"}}},
		{Weight: 10, Steps: []fake.Step{{Status: "CANCELED", Detail: "Canceled by client request"}}},
		{Weight: 10, Steps: []fake.Step{{Status: "SUCCESS", For: 20 * time.Second}, {Status: "FAILED", Detail: "Refund"}}},
		{Weight: 5, Steps: []fake.Step{{Status: "FAILED", Detail: "Payment error"}}},
	}
	pending := time.Duration(10+rng.IntN(31)) * time.Second
	steps := []fake.Step{{Status: "CREATED", For: 5 * time.Second}, {Status: "PENDING", For: pending}}
	return fake.Payment{
		ID: id, Amount: amount, Currency: "EUR",
		CryptoAmount: fake.Ratio(amount, btcEUR, 20), CryptoCoin: "BTC",
		Steps: append(steps, fake.PickEnding(rng, endings)...),
	}
}

// curl asks for a status with the client id in CBPAY-API-KEY and, when
// the secret key is set, the SIGNATURE computed from it first.
func curl(statusURL string, vars map[string]string) []string {
	var lines []string
	signature := ""
	if v := vars["secret-key"]; v != "" {
		lines = append(lines, fmt.Sprintf(`COINBAR_SIGNATURE=$(printf '' | openssl dgst -sha256 -hmac "$%s" | sed 's/.* //')`, v))
		signature = ` -H "SIGNATURE: $COINBAR_SIGNATURE"`
	}
	return append(lines, fmt.Sprintf(`curl -H "CBPAY-API-KEY: $%s"%s %s`, vars["api-key"], signature, statusURL))
}
