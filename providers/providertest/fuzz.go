package providertest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
)

// maxErrorLen is the most an error from a provider's answer may say: it
// ends up in a reply's header, an event and a log line, so however large
// or hostile the body, the message stays short.
const maxErrorLen = 512

// FuzzCheck serves whatever status (200 to 599) and body the fuzzer makes
// up, over real HTTP, to the harness's client, and checks what a hostile
// or broken provider cannot make it do: panic, answer a status that is
// not one of the nine, an amount that is not a decimal, text over its cap
// or not UTF-8, or an error that is not a contract code, is long, breaks
// a line, does not name the provider or shows a credential. seeds are
// bodies in the provider's own shapes; each is added with a 200 and with
// the statuses the client reads bodies of.
func FuzzCheck(f *testing.F, h Harness, seeds ...[]byte) {
	for _, body := range seeds {
		for _, status := range []uint16{200, 400, 404, 422, 429, 503} {
			f.Add(status, body)
		}
	}
	for _, secret := range h.Secrets {
		f.Add(uint16(400), []byte(`{"result":false,"error":"key `+secret+` refused"}`))
		f.Add(uint16(422), []byte(`{"detail":[{"loc":["header","`+secret+`"],"msg":"bad"}]}`))
	}
	var next atomic.Pointer[answer]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		a := next.Load()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		w.Write(a.body)
	}))
	f.Cleanup(srv.Close)
	client, err := h.NewClient(srv.URL, providers.WithRetries(0), providers.WithAttemptTimeout(5*time.Second))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, code uint16, b []byte) {
		// One call at a time per worker process: the server answers what
		// this call set.
		status := int(code)
		if status < 200 || status > 599 {
			status = 200 + status%400
		}
		next.Store(&answer{status: status, body: b})
		r, err := client.Check(context.Background(), "fuzz-1")
		if err != nil {
			checkFuzzError(t, h, err)
			return
		}
		checkFuzzResult(t, r)
	})
}

// answer is what the fuzzed provider says next.
type answer struct {
	status int
	body   []byte
}

func checkFuzzError(t *testing.T, h Harness, err error) {
	var e *paybridge.Error
	switch msg := err.Error(); {
	case !errors.As(err, &e) || !slices.Contains(paybridge.Codes, e.Code) || e.Code == paybridge.CodeInternal:
		t.Fatalf("error %q is not one of the contract's provider codes", msg)
	case !strings.Contains(msg, h.Name):
		t.Fatalf("error %q does not name %s", msg, h.Name)
	case len(msg) > maxErrorLen || !utf8.ValidString(msg) || strings.ContainsAny(msg, "\r\n"):
		t.Fatalf("error of %d bytes is long, not UTF-8 or breaks a line: %q", len(msg), msg)
	}
	for _, secret := range h.Secrets {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("credential %q leaked into the error %q", secret, err)
		}
	}
}

func checkFuzzResult(t *testing.T, r paybridge.Result) {
	if !r.Status.Valid() || r.ProviderStatus == "" {
		t.Fatalf("accepted status %q from provider status %q", r.Status, r.ProviderStatus)
	}
	for _, a := range []string{r.Amount, r.AmountPaid, r.CryptoAmount} {
		if a != "" && (!paybridge.IsDecimal(a) || len(a) > providers.MaxAmountLen) {
			t.Fatalf("accepted amount %q", a)
		}
	}
	for _, c := range []providers.Capped{
		{Field: "provider status", Value: r.ProviderStatus, Limit: providers.MaxStatusLen},
		{Field: "provider status detail", Value: r.ProviderStatusDetail, Limit: providers.MaxDetailLen},
		{Field: "currency", Value: r.Currency, Limit: providers.MaxCurrencyLen},
		{Field: "crypto currency", Value: r.CryptoCurrency, Limit: providers.MaxCurrencyLen},
	} {
		if len(c.Value) > c.Limit || !utf8.ValidString(c.Value) {
			t.Fatalf("accepted %s %q: over %d bytes or not UTF-8", c.Field, c.Value, c.Limit)
		}
	}
}
