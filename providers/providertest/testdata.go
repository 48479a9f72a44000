package providertest

import (
	"os"
	"testing"
)

// SeedBody is the 200 example of the provider's status page, verbatim, as
// each provider keeps it in its testdata/seed-status.json.
func SeedBody(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/seed-status.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}
