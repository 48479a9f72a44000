package providertest

import (
	"strings"
	"testing"

	"github.com/paybridge/paybridge"
)

// Decoder turns a provider's 200 body about paymentID into a Result.
type Decoder func(paymentID string, body []byte) (paybridge.Result, error)

// FuzzSameDecode holds a provider's body decoder to the one it replaced
// (kept in a test as the reference): on every body and payment id both
// return the same Result, or both refuse it with the same
// provider_bad_response message. Only the description of a syntax error
// may differ: when the reference says the body is not valid JSON, so must
// the decoder, in its own words. seeds are bodies, each tried with the
// payment id asked for.
func FuzzSameDecode(f *testing.F, provider, paymentID string, decode, reference Decoder, seeds ...[]byte) {
	for _, body := range seeds {
		f.Add(paymentID, body)
	}
	notJSON := provider + ": the body is not valid JSON: "
	f.Fuzz(func(t *testing.T, id string, body []byte) {
		want, wantErr := reference(id, body)
		got, err := decode(id, body)
		switch {
		case wantErr == nil && err == nil:
			if got != want {
				t.Fatalf("%q: decoded\n%+v\nthe reference decodes\n%+v", body, got, want)
			}
		case wantErr == nil || err == nil:
			t.Fatalf("%q: decoded %+v, %v; the reference %+v, %v", body, got, err, want, wantErr)
		case paybridge.ErrorCode(err) != paybridge.CodeProviderBadResponse || paybridge.ErrorCode(wantErr) != paybridge.CodeProviderBadResponse:
			t.Fatalf("%q: error %v; the reference's %v; want provider_bad_response", body, err, wantErr)
		case strings.HasPrefix(paybridge.ErrorMessage(wantErr), notJSON):
			if !strings.HasPrefix(paybridge.ErrorMessage(err), notJSON) {
				t.Fatalf("%q: error %q; the reference's %q", body, paybridge.ErrorMessage(err), paybridge.ErrorMessage(wantErr))
			}
		case paybridge.ErrorMessage(err) != paybridge.ErrorMessage(wantErr):
			t.Fatalf("%q: error %q; the reference's %q", body, paybridge.ErrorMessage(err), paybridge.ErrorMessage(wantErr))
		}
	})
}
