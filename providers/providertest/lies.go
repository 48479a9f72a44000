package providertest

import (
	"context"
	"strings"
	"testing"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers/fake"
)

// LyingBody is a 200 body in the provider's shape that must be refused,
// and the word (a field or value) the error must name.
type LyingBody struct {
	Body, Names string
}

// CheckLyingBodies serves each body with a 200 and checks the client
// refuses it as provider_bad_response, naming what is wrong.
func CheckLyingBodies(t *testing.T, h Harness, cases map[string]LyingBody) {
	t.Helper()
	fx := h.Start(t)
	for name, c := range cases {
		fx.Fault(t, "liar", fake.Fault{Times: 1, Body: []byte(c.Body)})
		_, err := fx.Client.Check(context.Background(), "liar")
		WantCode(t, err, paybridge.CodeProviderBadResponse)
		if !strings.Contains(err.Error(), c.Names) {
			t.Errorf("%s: error %q does not name %s", name, err, c.Names)
		}
	}
}
