package coinbar_test

import (
	"testing"

	"github.com/paybridge/paybridge/providers/providertest"
)

// FuzzCheck: whatever CoinbarPay answers, the client returns a sound
// Result or a short contract error without credentials.
func FuzzCheck(f *testing.F) {
	providertest.FuzzCheck(f, transportHarness(),
		providertest.SeedBody(f),
		[]byte(`{"payment_request_id_client":"fuzz-1","status":"SUCCESS","payment_detail":{"destination_amount":"0.1","total_price":1e2},"update_time":"2026-01-02T03:04:05"}`),
		[]byte(`{"result":false,"error":"Payment not found"}`),
		[]byte(`{"result":false,"error":{"code":7}}`),
		[]byte(`{"status":"PENDING","payment_detail":null,"responseToken":"x"}`),
	)
}
