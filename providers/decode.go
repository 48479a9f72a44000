package providers

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/paybridge/paybridge"
)

// This file holds what both provider clients need to read a response body
// they cannot trust: every error is provider_bad_response, starts with the
// provider's name and names the field that was wrong, so an operator can
// tell which provider lied and how without seeing the body.

// The most bytes each string taken from a provider's body may have. Real
// values are a small fraction of these; the caps exist so that a broken
// or hostile provider cannot make a Result, and the reply, event and log
// line built from it, large: a Result at every cap holds well under 1 KB
// of text. A value over its cap is refused, never cut: a cut status or
// amount would be a different one.
const (
	MaxStatusLen   = 64  // a status word: "PENDING", "approved"
	MaxDetailLen   = 256 // a status detail: "Canceled by client request"
	MaxCurrencyLen = 32  // a currency or coin: "EUR", "USDT"
	MaxAmountLen   = 64  // an amount's decimal text: 20 digits and more
	MaxTimeLen     = 64  // a time's ISO 8601 text, before it is parsed
	MaxIDLen       = 256 // a payment id: as long as a check may ask for
)

// Capped is a string from a provider's body, the field it came from and
// the most bytes it may have (one of the Max…Len caps).
type Capped struct {
	Field string
	Value string
	Limit int
}

// CheckLengths refuses the first value over its limit as
// provider_bad_response naming the field, its length and the limit, but
// not the value, however long it is.
func CheckLengths(provider string, values ...Capped) error {
	for _, v := range values {
		if err := checkLength(provider, v.Field, v.Value, v.Limit); err != nil {
			return err
		}
	}
	return nil
}

func checkLength(provider, field, v string, limit int) error {
	return checkLen(provider, field, len(v), limit)
}

func checkLen(provider, field string, n, limit int) error {
	if n > limit {
		return BadResponse(provider, "field %s is %d bytes long, over the limit of %d", field, n, limit)
	}
	return nil
}

// SamePayment refuses a body whose id field (nil when absent) names
// another payment than the one asked for, quoting a short part of it.
func SamePayment(provider, field string, got *string, asked string) error {
	if got == nil {
		return nil
	}
	if err := checkLength(provider, field, *got, MaxIDLen); err != nil {
		return err
	}
	if *got != asked {
		return BadResponse(provider, "the body is about payment %q, not the one asked for", Truncate(*got, 80))
	}
	return nil
}

// BadResponse returns a provider_bad_response error whose message is the
// formatted text after the provider's name.
func BadResponse(provider, format string, args ...any) error {
	return paybridge.Errorf(paybridge.CodeProviderBadResponse, "%s: %s", provider, fmt.Sprintf(format, args...))
}

// DecodeJSON unmarshals a provider's body into v. When it does not decode,
// the error says whether the body was not JSON, not an object, or which
// field had the wrong JSON type, rather than Go's type names alone.
// BodyDecoder reads a body by the same rules, with the same errors, in
// one pass that takes only the members used: the status decoders of the
// providers here use it, and keep their former DecodeJSON decoder as the
// reference their fuzz tests compare it with.
func DecodeJSON(provider string, body []byte, v any) error {
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return BadResponse(provider, "the body is a JSON %s, not an object", typeErr.Value)
	case errors.As(err, &typeErr):
		return BadResponse(provider, "field %s is a JSON %s, want %s", typeErr.Field, typeErr.Value, typeErr.Type)
	}
	return BadResponse(provider, "the body is not valid JSON: %v", err)
}

// DecimalField decodes the amount in field (kept as json.RawMessage in the
// body's struct) as its exact text, never through a float64, of at most
// MaxAmountLen bytes. Absent or null is "". (CheckAmount is the same for
// an amount a BodyDecoder read.)
func DecimalField(provider, field string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", nil
	}
	var d Decimal
	if err := json.Unmarshal(raw, &d); err != nil {
		return "", BadResponse(provider, "field %s: %v", field, err)
	}
	if err := checkLength(provider, field, string(d), MaxAmountLen); err != nil {
		return "", err
	}
	return string(d), nil
}

// timeLayouts are the ISO 8601 forms providers send: RFC 3339 with a zone,
// or without one (taken as UTC, as Python's isoformat writes naive times);
// fractional seconds optional in both.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"}

// ParseTime reads the timestamp v of field, of at most MaxTimeLen bytes,
// in UTC; absent ("") is the zero time. A time outside the years a
// payment can be dated (paybridge.Dated) is refused.
func ParseTime(provider, field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if err := checkLength(provider, field, v, MaxTimeLen); err != nil {
		return time.Time{}, err
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			if !paybridge.Dated(t) {
				return time.Time{}, BadResponse(provider, "field %s is %q, a time outside 1970 to 2199", field, Truncate(v, 40))
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, BadResponse(provider, "field %s is %q, not an ISO 8601 time", field, Truncate(v, 40))
}

// Truncate shortens provider text to at most n bytes, plus "…" when it
// cut, for quoting in a message. It cuts between whole characters and
// shows bytes that are not UTF-8 as U+FFFD, so the message stays valid
// UTF-8 however long or hostile the text was, and %q then escapes only
// quotes, backslashes and what cannot be printed.
func Truncate(s string, n int) string {
	if len(s) <= n && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s { // a byte that is not UTF-8 comes as utf8.RuneError
		if b.Len()+utf8.RuneLen(r) > n {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Quotable is what a provider said, fit to quote in an error: every
// credential in secrets blanked out before the text is cut to n bytes by
// Truncate, so that no part of one survives the cut. Empty secrets are
// skipped.
func Quotable(text string, n int, secrets ...string) string {
	for _, secret := range secrets {
		if secret != "" {
			text = strings.ReplaceAll(text, secret, "[redacted]")
		}
	}
	return Truncate(text, n)
}
