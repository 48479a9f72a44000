package providers_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
)

// wantBadResponse fails unless err is provider_bad_response from provider
// and its message holds every word.
func wantBadResponse(t *testing.T, err error, words ...string) {
	t.Helper()
	if paybridge.ErrorCode(err) != paybridge.CodeProviderBadResponse {
		t.Fatalf("error %v, want provider_bad_response", err)
	}
	msg := paybridge.ErrorMessage(err)
	if !strings.HasPrefix(msg, "prov: ") {
		t.Errorf("message %q does not start with the provider's name", msg)
	}
	for _, w := range words {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q does not say %q", msg, w)
		}
	}
}

func TestBadResponseNamesTheProvider(t *testing.T) {
	err := providers.BadResponse("prov", "field %s is %d%%", "x", 5)
	wantBadResponse(t, err)
	if got := paybridge.ErrorMessage(err); got != "prov: field x is 5%" {
		t.Fatalf("message %q", got)
	}
}

func TestDecodeJSONSaysWhatWasWrong(t *testing.T) {
	type body struct {
		Status string `json:"status"`
	}
	cases := map[string][]string{
		`[1, 2]`:         {"the body is a JSON array, not an object"},
		`"text"`:         {"the body is a JSON string, not an object"},
		`{"status": 5}`:  {"field status is a JSON number, want string"},
		`<html>`:         {"the body is not valid JSON"},
		`{"status": "a"`: {"the body is not valid JSON"},
	}
	for in, words := range cases {
		var b body
		wantBadResponse(t, providers.DecodeJSON("prov", []byte(in), &b), words...)
	}
	var b body
	if err := providers.DecodeJSON("prov", []byte(`{"status": "paid", "other": 1}`), &b); err != nil || b.Status != "paid" {
		t.Fatalf("DecodeJSON: %v, status %q", err, b.Status)
	}
}

func TestDecimalFieldKeepsExactText(t *testing.T) {
	cases := map[string]string{
		``:                         "",
		`null`:                     "",
		`0.00045145423250897323`:   "0.00045145423250897323",
		`"19913.425"`:              "19913.425",
		`123456789012345678901234`: "123456789012345678901234",
	}
	for in, want := range cases {
		got, err := providers.DecimalField("prov", "amount", json.RawMessage(in))
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", in, got, err, want)
		}
	}
	_, err := providers.DecimalField("prov", "payment_detail.total_price", json.RawMessage(`"ten"`))
	wantBadResponse(t, err, "field payment_detail.total_price", "ten")

	// Raw JSON that is not a number is shown as itself, compacted: its
	// line breaks must not reach a NATS header.
	_, err = providers.DecimalField("prov", "amount", json.RawMessage("{\n\"a\":\r\n 1}"))
	wantBadResponse(t, err, `field amount: amount {"a":1} is not a decimal number`)
	if msg := paybridge.ErrorMessage(err); strings.ContainsAny(msg, "\r\n") {
		t.Errorf("message %q holds a line break", msg)
	}
}

func TestDecimalFieldCapsTheText(t *testing.T) {
	atLimit := "0." + strings.Repeat("4", providers.MaxAmountLen-2)
	for _, in := range []string{atLimit, `"` + atLimit + `"`} {
		if got, err := providers.DecimalField("prov", "amount", json.RawMessage(in)); err != nil || got != atLimit {
			t.Errorf("amount of %d bytes: got %q, %v; want it kept", len(atLimit), got, err)
		}
	}
	over := atLimit + "5"
	for _, in := range []string{over, `"` + over + `"`, strings.Repeat("9", 300_000)} {
		_, err := providers.DecimalField("prov", "amount_paid", json.RawMessage(in))
		n := len(strings.Trim(in, `"`))
		wantBadResponse(t, err, "field amount_paid", strconv.Itoa(n)+" bytes", strconv.Itoa(providers.MaxAmountLen))
		if len(paybridge.ErrorMessage(err)) > 100 {
			t.Errorf("message not short: %q", paybridge.ErrorMessage(err))
		}
	}
}

func TestParseTimeAcceptsISO8601InUTC(t *testing.T) {
	cases := map[string]time.Time{
		"":                               {},
		"2025-08-30T20:38:30.887000":     time.Date(2025, 8, 30, 20, 38, 30, 887_000_000, time.UTC),
		"2025-08-30T20:38:30":            time.Date(2025, 8, 30, 20, 38, 30, 0, time.UTC),
		"2025-08-30T17:38:30-03:00":      time.Date(2025, 8, 30, 20, 38, 30, 0, time.UTC),
		"2025-08-30T20:38:30.123456789Z": time.Date(2025, 8, 30, 20, 38, 30, 123456789, time.UTC),
	}
	for in, want := range cases {
		got, err := providers.ParseTime("prov", "update_time", in)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("%q: got %s, %v; want %s in UTC", in, got, err, want)
		}
	}
	for _, in := range []string{"30/08/2025", "2025-08-30", "yesterday", strings.Repeat("9", providers.MaxTimeLen)} {
		_, err := providers.ParseTime("prov", "update_time", in)
		wantBadResponse(t, err, "field update_time", "not an ISO 8601 time")
		if len(paybridge.ErrorMessage(err)) > 120 {
			t.Errorf("%q: message not shortened: %q", in, paybridge.ErrorMessage(err))
		}
	}
}

// A time outside the years a payment can be dated is a lie, refused:
// ordering answers by it would compare nanosecond counts that wrap past
// 2262 (a late answer would then pass for a newer one), and a record with
// a year past 9999 in UTC cannot be stored. The bounds themselves pass.
func TestParseTimeRefusesTimesNoPaymentHas(t *testing.T) {
	for _, in := range []string{"1970-01-01T00:00:00Z", "2199-12-31T23:59:59.999999999Z", "2199-12-31T21:00:00-02:59"} {
		if _, err := providers.ParseTime("prov", "update_time", in); err != nil {
			t.Errorf("%q refused: %v", in, err)
		}
	}
	for _, in := range []string{"2300-01-02T10:00:00Z", "1000-01-01T00:00:00Z", "0001-01-01T00:00:00",
		"1969-12-31T23:59:59Z", "2200-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59", "2199-12-31T23:00:00-01:00"} {
		_, err := providers.ParseTime("prov", "update_time", in)
		wantBadResponse(t, err, "field update_time", "outside 1970 to 2199")
	}
}

// A time's text is capped before it is parsed: Go accepts any number of
// fractional digits, so a valid time can be as long as a provider likes.
func TestParseTimeCapsTheText(t *testing.T) {
	atLimit := "2025-08-30T20:38:30.1" + strings.Repeat("0", providers.MaxTimeLen-22) + "Z"
	if got, err := providers.ParseTime("prov", "last_modified", atLimit); err != nil || !got.Equal(time.Date(2025, 8, 30, 20, 38, 30, 100_000_000, time.UTC)) {
		t.Fatalf("time of %d bytes: got %s, %v", len(atLimit), got, err)
	}
	for _, in := range []string{"0" + atLimit, strings.Repeat("2025", 75_000)} {
		_, err := providers.ParseTime("prov", "last_modified", in)
		wantBadResponse(t, err, "field last_modified", strconv.Itoa(len(in))+" bytes", strconv.Itoa(providers.MaxTimeLen))
	}
}

func TestCheckLengthsNamesTheFieldNotTheValue(t *testing.T) {
	huge := strings.Repeat("PENDING", 300_000/7)
	fields := []providers.Capped{
		{Field: "status_descr", Value: strings.Repeat("d", providers.MaxDetailLen), Limit: providers.MaxDetailLen},
		{Field: "status", Value: huge, Limit: providers.MaxStatusLen},
		{Field: "currency", Value: huge, Limit: providers.MaxCurrencyLen},
	}
	if err := providers.CheckLengths("prov", fields[0]); err != nil {
		t.Fatalf("value at its limit refused: %v", err)
	}
	err := providers.CheckLengths("prov", fields...)
	wantBadResponse(t, err, "field status is "+strconv.Itoa(len(huge))+" bytes long, over the limit of 64")
	if msg := paybridge.ErrorMessage(err); len(msg) > 100 || strings.Contains(msg, "PENDING") {
		t.Errorf("message %q is long or quotes the value", msg)
	}
}

func TestSamePayment(t *testing.T) {
	long := strings.Repeat("i", providers.MaxIDLen)
	for _, got := range []*string{nil, &long} {
		if err := providers.SamePayment("prov", "id", got, long); err != nil {
			t.Errorf("the id asked for refused: %v", err)
		}
	}
	other := "someone-else"
	wantBadResponse(t, providers.SamePayment("prov", "id", &other, "p1"), `"someone-else"`, "not the one asked for")
	tooLong := long + "i"
	wantBadResponse(t, providers.SamePayment("prov", "payment_request_id_client", &tooLong, tooLong),
		"field payment_request_id_client is 257 bytes long, over the limit of 256")
}

func TestTruncateCutsOnARuneBoundary(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijk", 5, "abcde…"},
		{"ab€cd", 3, "ab…"}, // € is 3 bytes: cutting at 3 would split it
		{"ab€cd", 5, "ab€…"},
		{"€€", 1, "…"},
		{"a\xffb", 10, "a\uFFFDb"}, // not UTF-8: shown as U+FFFD
		{"ab\xff\xfe", 4, "ab…"},
		{"\x80\x80\x80\x80", 3, "\uFFFD…"},
		{"a\"b\\c\nd", 10, "a\"b\\c\nd"}, // kept: %q escapes these
	}
	for _, c := range cases {
		got := providers.Truncate(c.in, c.n)
		if got != c.want || !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
	hostile := strings.Repeat("\x80", 300_000)
	if got := providers.Truncate(hostile, 200); len(got) > 200+len("…") || !utf8.ValidString(got) {
		t.Errorf("Truncate of 300 KB of continuation bytes: %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	}
	// Quoting escapes nothing that prints: non-ASCII words stay readable.
	if got := fmt.Sprintf("%q", providers.Truncate("Pago rechazado: fondos insuficientes ü€", 200)); got != `"Pago rechazado: fondos insuficientes ü€"` {
		t.Errorf("quoted as %s", got)
	}
}

// A credential is blanked before the cut, so a cut through it shows no
// part of it; an empty secret blanks nothing.
func TestQuotableBlanksSecretsBeforeTheCut(t *testing.T) {
	text := "bad key key-SECRET-123 sent"
	if got := providers.Quotable(text, 12, "key-SECRET-123", ""); got != "bad key [red…" {
		t.Errorf("Quotable = %q", got)
	}
	if got := providers.Quotable(text, 100, ""); got != text {
		t.Errorf("an empty secret changed the text to %q", got)
	}
}
