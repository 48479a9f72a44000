package coinbar_test

import (
	"net/http"
	"testing"

	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/providertest"
)

func TestTransport(t *testing.T) {
	providertest.RunTransport(t, transportHarness())
}

// transportHarness is the harness with what the shared scenarios check
// beyond a plain call: headers, credentials, clients turned away.
func transportHarness() providertest.Harness {
	h := harness(testSecretKey)
	signature := coinbar.Signature(testSecretKey, nil)
	h.Header = http.Header{}
	h.Header.Set("CBPAY-API-KEY", testClientID)
	h.Header.Set("Content-Type", "application/json")
	h.Header.Set("SIGNATURE", signature)
	h.Secrets = []string{testClientID, testSecretKey, signature}
	h.BadCredentials = []providertest.BadCredential{
		{Name: "wrong secret", New: newClient(testClientID, "not-the-secret"), Secret: "not-the-secret"},
		{Name: "no secret", New: newClient(testClientID, "")},
		{Name: "another client id", New: newClient("someone-else", testSecretKey), Secret: "someone-else"},
	}
	return h
}
