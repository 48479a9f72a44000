package providertest

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/fake"
)

// Lands says where a string field of a provider's body lands in the
// Result, which decides its cap and what a valid value looks like.
type Lands int

// Where provider strings land.
const (
	InProviderStatus Lands = iota + 1
	InProviderStatusDetail
	InCurrency
	InCryptoCurrency
	InAmount
	InAmountPaid
	InCryptoAmount
	// InUpdatedAt is a time, parsed into UpdatedAt.
	InUpdatedAt
	// AsPaymentID is the body's payment id, compared with the one asked for.
	AsPaymentID
)

// landing is the cap for the strings that land somewhere, a valid value
// of n bytes, and the value as the Result holds it (nil for a time or id).
type landing struct {
	limit int
	fill  func(n int) string
	got   func(paybridge.Result) string
}

var landings = map[Lands]landing{
	InProviderStatus:       {providers.MaxStatusLen, words, func(r paybridge.Result) string { return r.ProviderStatus }},
	InProviderStatusDetail: {providers.MaxDetailLen, words, func(r paybridge.Result) string { return r.ProviderStatusDetail }},
	InCurrency:             {providers.MaxCurrencyLen, words, func(r paybridge.Result) string { return r.Currency }},
	InCryptoCurrency:       {providers.MaxCurrencyLen, words, func(r paybridge.Result) string { return r.CryptoCurrency }},
	InAmount:               {providers.MaxAmountLen, decimal, func(r paybridge.Result) string { return r.Amount }},
	InAmountPaid:           {providers.MaxAmountLen, decimal, func(r paybridge.Result) string { return r.AmountPaid }},
	InCryptoAmount:         {providers.MaxAmountLen, decimal, func(r paybridge.Result) string { return r.CryptoAmount }},
	InUpdatedAt:            {providers.MaxTimeLen, isoTime, nil},
	AsPaymentID:            {providers.MaxIDLen, paymentID, nil},
}

func words(n int) string     { return strings.Repeat("x", n) }
func decimal(n int) string   { return "0." + strings.Repeat("4", n-2) }
func paymentID(n int) string { return strings.Repeat("i", n) }

// isoTime is a valid time of n bytes: Go reads any number of fractional
// digits, so a valid time can be as long as a provider likes.
func isoTime(n int) string { return "2025-08-30T20:38:30.1" + strings.Repeat("0", n-22) + "Z" }

// CheckCaps checks that each string field of the provider's 200 body, by
// name, is held to the cap of where it lands. render returns a body
// holding the given values by field name (amounts as JSON numbers, the
// rest as strings). A body with every field at its cap is accepted with
// the values kept exactly, and the Result stays small; each field one byte
// over, and 300 KB long, is refused as provider_bad_response with a short
// message naming the field, its length and the cap.
func CheckCaps(t *testing.T, h Harness, render func(values map[string]string) []byte, fields map[string]Lands) {
	t.Helper()
	fx := h.Start(t)
	atLimit := map[string]string{}
	asked := "capped"
	for field, lands := range fields {
		atLimit[field] = landings[lands].fill(landings[lands].limit)
		if lands == AsPaymentID {
			asked = atLimit[field]
		}
	}

	fx.Fault(t, asked, fake.Fault{Times: 1, Body: render(atLimit)})
	got, err := fx.Client.Check(context.Background(), asked)
	if err != nil {
		t.Fatalf("every field at its cap: %v", err)
	}
	for field, lands := range fields {
		if l := landings[lands]; l.got != nil && l.got(got) != atLimit[field] {
			t.Errorf("%s at its cap of %d bytes: got %q", field, l.limit, l.got(got))
		}
	}
	if b, _ := json.Marshal(got); len(b) > 2048 {
		t.Errorf("a Result at every cap is %d bytes as JSON, want a small one", len(b))
	}

	for _, field := range slices.Sorted(maps.Keys(fields)) {
		l := landings[fields[field]]
		for _, n := range []int{l.limit + 1, 300_000} {
			values := maps.Clone(atLimit)
			values[field] = l.fill(n)
			fx.Fault(t, asked, fake.Fault{Times: 1, Body: render(values)})
			_, err := fx.Client.Check(context.Background(), asked)
			if code := paybridge.ErrorCode(err); code != paybridge.CodeProviderBadResponse {
				t.Errorf("%s of %d bytes: error %v, want provider_bad_response", field, n, err)
				continue
			}
			msg := paybridge.ErrorMessage(err)
			for _, word := range []string{h.Name, field, strconv.Itoa(n) + " bytes", strconv.Itoa(l.limit)} {
				if !strings.Contains(msg, word) {
					t.Errorf("%s of %d bytes: message %q does not say %q", field, n, msg, word)
				}
			}
			if len(msg) > 200 || !utf8.ValidString(msg) {
				t.Errorf("%s of %d bytes: message of %d bytes is not short valid UTF-8", field, n, len(msg))
			}
		}
	}
}
