package muvinai_test

import (
	"testing"

	"github.com/paybridge/paybridge/providers/providertest"
)

// FuzzCheck: whatever Muvinai answers, the client returns a sound Result
// or a short contract error without credentials.
func FuzzCheck(f *testing.F) {
	providertest.FuzzCheck(f, harness(),
		providertest.SeedBody(f),
		[]byte(`{"id":"fuzz-1","status":"approved","status_detail":"correct","amount":"12.50","amount_paid":12.5,"currency":"ARS","last_modified":"2026-01-02T03:04:05Z"}`),
		[]byte(`{"detail":[{"loc":["path","id",0],"msg":"field required"}]}`),
		[]byte(`{"detail":"Not found"}`),
		[]byte(`{"status":"pending","amount":1e999,"last_modified":"yesterday"}`),
	)
}
