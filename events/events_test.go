package events_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/schemas"
)

// twentyDigits is CoinbarPay's kind of amount: float64 would lose digits.
const twentyDigits = "0.00045145423250897323"

// nonASCIIPaymentID needs percent-encoding in a header: non-ASCII, a
// space, quotes and a '%' that is no escape.
const nonASCIIPaymentID = `ü€ "x"%`

// oddPaymentID has a space, non-ASCII, quotes, a percent escape look-alike,
// a slash and NATS wildcard characters.
const oddPaymentID = `pay ü€ "x" %41 / a.b.*>`

func status(s paybridge.Status) *paybridge.Status { return &s }

// fullData has every field set.
func fullData() events.StatusChanged {
	updated := time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)
	return events.StatusChanged{
		Provider:             "coinbar",
		PaymentID:            "6f1c2a9e-4b7d-4a51-9a55-0d7b1f0c2e11",
		Status:               paybridge.StatusUnderpaid,
		PreviousStatus:       status(paybridge.StatusPending),
		Terminal:             false,
		ProviderStatus:       "pending",
		ProviderStatusDetail: "underpaid",
		Amount:               "12.50",
		Currency:             "EUR",
		AmountPaid:           "10",
		CryptoAmount:         twentyDigits,
		CryptoCurrency:       "BTC",
		ProviderUpdatedAt:    &updated,
		ObservedAt:           time.Date(2025, 1, 2, 3, 4, 6, 987654321, time.UTC),
		Revision:             42,
	}
}

// firstSight has only the required fields and no previous status.
func firstSight() events.StatusChanged {
	return events.StatusChanged{
		Provider:       "muvinai",
		PaymentID:      "pr_1",
		Status:         paybridge.StatusPaid,
		Terminal:       true,
		ProviderStatus: "approved",
		ObservedAt:     time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
		Revision:       1,
	}
}

func mustEncode(t testing.TB, e events.Event, mode events.Mode) *nats.Msg {
	t.Helper()
	m, err := events.Encode("payments.status.changed", e, mode)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return m
}

func TestNewStatusChanged(t *testing.T) {
	d := fullData()
	local := time.FixedZone("UTC+2", 2*3600)
	d.ObservedAt = time.Date(2025, 1, 2, 5, 4, 6, 0, local)
	e := events.NewStatusChanged("ev-1", d)
	want := events.Event{
		ID:         "ev-1",
		Type:       events.TypeStatusChanged,
		Source:     "urn:paybridge:provider:coinbar",
		Subject:    d.PaymentID,
		Time:       time.Date(2025, 1, 2, 3, 4, 6, 0, time.UTC),
		DataSchema: schemas.StatusChangedID,
	}
	want.Data = d
	want.Data.ObservedAt = want.Time
	if !reflect.DeepEqual(e, want) {
		t.Errorf("NewStatusChanged =\n%+v\nwant\n%+v", e, want)
	}
	x := events.NewWatchExpired("ev-2", d)
	if x.Type != events.TypeWatchExpired || x.DataSchema != schemas.WatchExpiredID || x.Subject != d.PaymentID || x.ID != "ev-2" {
		t.Errorf("NewWatchExpired = %+v", x)
	}
}

func TestRoundTrip(t *testing.T) {
	odd := fullData()
	odd.PaymentID = oddPaymentID
	odd.ProviderStatus = "FAILED"
	odd.ProviderStatusDetail = "Timeout <&> \"quoted\"\nnewline"
	odd.Status, odd.PreviousStatus, odd.Terminal = paybridge.StatusRefunded, status(paybridge.StatusPaid), true
	unicode := fullData()
	unicode.PaymentID = nonASCIIPaymentID
	spaced := fullData()
	spaced.PaymentID = " pay 1 " // sdk-go's setters would trim it
	traced := events.NewStatusChanged("ev-7", fullData())
	traced.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	traced.TraceState = "vendor=a b,other=c%d"
	cases := map[string]events.Event{
		"every field":         events.NewStatusChanged("ev-1", fullData()),
		"traced":              traced,
		"first sight":         events.NewStatusChanged("ev-2", firstSight()),
		"watch expiry":        events.NewWatchExpired("ev-3", fullData()),
		"odd values":          events.NewStatusChanged("ev 4 ü", odd),
		"non-ASCII id":        events.NewStatusChanged("ev-5", unicode),
		"spaces around an id": events.NewStatusChanged(" ev-6 ", spaced),
	}
	for name, e := range cases {
		for _, mode := range []events.Mode{events.Binary, events.Structured} {
			t.Run(name+"/"+mode.String(), func(t *testing.T) {
				got, err := events.DecodeMsg(mustEncode(t, e, mode))
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if !reflect.DeepEqual(got, e) {
					t.Errorf("round trip changed the event:\n got %+v\nwant %+v", got, e)
				}
			})
		}
	}
}

func TestBinaryMessage(t *testing.T) {
	e := events.NewStatusChanged("ev-1", fullData())
	m := mustEncode(t, e, events.Binary)
	want := nats.Header{
		"ce-specversion":     {"1.0"},
		"ce-id":              {"ev-1"},
		"ce-type":            {"io.paybridge.payment.status.changed.v1"},
		"ce-source":          {"urn:paybridge:provider:coinbar"},
		"ce-subject":         {"6f1c2a9e-4b7d-4a51-9a55-0d7b1f0c2e11"},
		"ce-time":            {"2025-01-02T03:04:06.987654321Z"},
		"ce-datacontenttype": {"application/json"},
		"ce-dataschema":      {"https://paybridge.dev/schemas/status-changed.json"},
		"ce-provider":        {"coinbar"},
		"ce-paymentstatus":   {"underpaid"},
		"ce-previousstatus":  {"pending"},
	}
	if !reflect.DeepEqual(m.Header, want) {
		t.Errorf("header =\n%v\nwant\n%v", m.Header, want)
	}
	if m.Subject != "payments.status.changed" {
		t.Errorf("subject = %q", m.Subject)
	}
	wantBody := `{"provider":"coinbar","payment_id":"6f1c2a9e-4b7d-4a51-9a55-0d7b1f0c2e11","status":"underpaid",` +
		`"previous_status":"pending","terminal":false,"provider_status":"pending","provider_status_detail":"underpaid",` +
		`"amount":"12.50","currency":"EUR","amount_paid":"10","crypto_amount":"0.00045145423250897323","crypto_currency":"BTC",` +
		`"provider_updated_at":"2025-01-02T03:04:05.123456789Z","observed_at":"2025-01-02T03:04:06.987654321Z","revision":42}`
	if string(m.Data) != wantBody {
		t.Errorf("body =\n%s\nwant\n%s", m.Data, wantBody)
	}

	// First sight: no previousstatus extension, and previous_status is null.
	m = mustEncode(t, events.NewStatusChanged("ev-2", firstSight()), events.Binary)
	if _, ok := m.Header["ce-previousstatus"]; ok {
		t.Errorf("ce-previousstatus present on first sight: %q", m.Header["ce-previousstatus"])
	}
	if !strings.Contains(string(m.Data), `"previous_status":null`) {
		t.Errorf("body lacks previous_status null: %s", m.Data)
	}
	for _, absent := range []string{"amount", "currency", "provider_updated_at", "provider_status_detail"} {
		if strings.Contains(string(m.Data), `"`+absent+`"`) {
			t.Errorf("body has empty %s: %s", absent, m.Data)
		}
	}
}

func TestStructuredMessage(t *testing.T) {
	e := events.NewStatusChanged("ev-1", fullData())
	m := mustEncode(t, e, events.Structured)
	if want := (nats.Header{"Content-Type": {"application/cloudevents+json"}}); !reflect.DeepEqual(m.Header, want) {
		t.Errorf("header = %v, want %v", m.Header, want)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(m.Data, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"specversion":     `"1.0"`,
		"id":              `"ev-1"`,
		"type":            `"io.paybridge.payment.status.changed.v1"`,
		"source":          `"urn:paybridge:provider:coinbar"`,
		"subject":         `"6f1c2a9e-4b7d-4a51-9a55-0d7b1f0c2e11"`,
		"time":            `"2025-01-02T03:04:06.987654321Z"`,
		"datacontenttype": `"application/json"`,
		"dataschema":      `"https://paybridge.dev/schemas/status-changed.json"`,
		"provider":        `"coinbar"`,
		"paymentstatus":   `"underpaid"`,
		"previousstatus":  `"pending"`,
	}
	for k, v := range want {
		if string(body[k]) != v {
			t.Errorf("%s = %s, want %s", k, body[k], v)
		}
	}
	if len(body) != len(want)+1 {
		t.Errorf("body has %d members, want %d: %s", len(body), len(want)+1, m.Data)
	}
	if !strings.Contains(string(body["data"]), `"crypto_amount":"0.00045145423250897323"`) {
		t.Errorf("data lost the amount's digits: %s", body["data"])
	}
}

// Attribute values are percent-encoded: on the wire a header value is
// printable ASCII only, with %XX for everything else.
func TestPercentEncodedHeaders(t *testing.T) {
	d := fullData()
	d.PaymentID = oddPaymentID
	e := events.NewStatusChanged("id\r\nNats-Msg-Id: evil", d)
	m := mustEncode(t, e, events.Binary)
	if got, want := m.Header.Get("ce-subject"), `pay%20%C3%BC%E2%82%AC%20%22x%22%20%2541%20/%20a.b.*>`; got != want {
		t.Errorf("ce-subject = %q, want %q", got, want)
	}
	if got, want := m.Header.Get("ce-id"), `id%0D%0ANats-Msg-Id:%20evil`; got != want {
		t.Errorf("ce-id = %q, want %q", got, want)
	}
	for k, vs := range m.Header {
		for _, v := range vs {
			for i := 0; i < len(v); i++ {
				c := v[i]
				if c < 0x21 || c > 0x7e || c == '"' {
					t.Errorf("%s: byte %#x at %d is not printable ASCII: %q", k, c, i, v)
				}
				if c == '%' && (i+2 >= len(v) || !isUpperHex(v[i+1]) || !isUpperHex(v[i+2])) {
					t.Errorf("%s: %% at %d is not an escape: %q", k, i, v)
				}
			}
		}
	}
	got, err := events.DecodeMsg(m)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != oddPaymentID || got.ID != e.ID || got.Data.PaymentID != oddPaymentID {
		t.Errorf("decoded subject %q id %q payment_id %q", got.Subject, got.ID, got.Data.PaymentID)
	}

	d.PaymentID = nonASCIIPaymentID
	m = mustEncode(t, events.NewStatusChanged("ev-1", d), events.Binary)
	if got, want := m.Header.Get("ce-subject"), `%C3%BC%E2%82%AC%20%22x%22%25`; got != want {
		t.Errorf("ce-subject = %q, want %q", got, want)
	}
}

// CloudEvents forbids a blank subject, so a payment id of spaces is
// published without one (the data still has it) rather than not at all.
func TestBlankPaymentIDHasNoSubject(t *testing.T) {
	d := firstSight()
	d.PaymentID = "   "
	e := events.NewStatusChanged("ev-1", d)
	for _, mode := range []events.Mode{events.Binary, events.Structured} {
		m := mustEncode(t, e, mode)
		if _, ok := m.Header["ce-subject"]; ok || strings.Contains(string(m.Data), `"subject"`) {
			t.Errorf("%v: a blank subject was written: %q %s", mode, m.Header, m.Data)
		}
		got, err := events.DecodeMsg(m)
		if err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		if got.Subject != "" || got.Data.PaymentID != "   " {
			t.Errorf("%v: subject %q payment_id %q", mode, got.Subject, got.Data.PaymentID)
		}
	}
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

// Decode takes what other writers send: header names in any case,
// unnecessary or lower-case escapes, the content type in an unprefixed
// header or not at all, foreign extensions, and a structured event without
// a Content-Type or with its data in base64.
func TestDecodeTolerance(t *testing.T) {
	e := events.NewStatusChanged("ev-1", fullData())
	bin := mustEncode(t, e, events.Binary)
	structured := mustEncode(t, e, events.Structured)
	clone := func() nats.Header {
		h := nats.Header{}
		for k, v := range bin.Header {
			h[k] = append([]string(nil), v...)
		}
		return h
	}
	cases := map[string]func() (nats.Header, []byte){
		"canonical header case": func() (nats.Header, []byte) {
			h := nats.Header{}
			for k, v := range bin.Header {
				h["Ce-"+strings.ToUpper(k[3:4])+k[4:]] = v
			}
			return h, bin.Data
		},
		"unnecessary escapes": func() (nats.Header, []byte) {
			h := clone()
			h.Set("ce-id", "%65%76-1")
			h.Set("ce-provider", "co%69nbar")
			return h, bin.Data
		},
		"unprefixed content-type": func() (nats.Header, []byte) {
			h := clone()
			h.Del("ce-datacontenttype")
			h.Set("content-type", "application/json; charset=utf-8")
			return h, bin.Data
		},
		"Content-Type": func() (nats.Header, []byte) {
			h := clone()
			h.Del("ce-datacontenttype")
			h.Set("Content-Type", "application/json")
			return h, bin.Data
		},
		"no content type at all": func() (nats.Header, []byte) {
			h := clone()
			h.Del("ce-datacontenttype")
			return h, bin.Data
		},
		"foreign extensions and headers": func() (nats.Header, []byte) {
			h := clone()
			h.Set("ce-partitionkey", "p-1")
			h.Set("Nats-Msg-Id", "ev-1")
			return h, bin.Data
		},
		"same value twice": func() (nats.Header, []byte) {
			h := clone()
			h["Ce-Id"] = []string{"ev-1"}
			h.Add("ce-id", "ev-1")
			return h, bin.Data
		},
		"structured without Content-Type": func() (nats.Header, []byte) {
			return nil, structured.Data
		},
		"structured with parameters": func() (nats.Header, []byte) {
			return nats.Header{"content-type": {"Application/CloudEvents+JSON; charset=utf-8"}}, structured.Data
		},
		"structured with data_base64": func() (nats.Header, []byte) {
			var m map[string]any
			if err := json.Unmarshal(structured.Data, &m); err != nil {
				t.Fatal(err)
			}
			m["data_base64"] = bin.Data // []byte marshals as base64
			delete(m, "data")
			b, _ := json.Marshal(m)
			return structured.Header, b
		},
	}
	for name, msg := range cases {
		t.Run(name, func(t *testing.T) {
			h, body := msg()
			got, err := events.Decode(h, body)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, e) {
				t.Errorf("got %+v\nwant %+v", got, e)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	e := events.NewStatusChanged("ev-1", fullData())
	bin := mustEncode(t, e, events.Binary)
	structured := mustEncode(t, e, events.Structured)
	without := func(key string) nats.Header {
		h := nats.Header{}
		for k, v := range bin.Header {
			if k != key {
				h[k] = v
			}
		}
		return h
	}
	with := func(key, value string) nats.Header {
		h := without(key)
		h.Set(key, value)
		return h
	}
	data := func(key, raw string) []byte {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(bin.Data, &m); err != nil {
			t.Fatal(err)
		}
		if raw == "" {
			delete(m, key)
		} else {
			m[key] = json.RawMessage(raw)
		}
		b, _ := json.Marshal(m)
		return b
	}
	ceJSON := nats.Header{"Content-Type": {"application/cloudevents+json"}}
	cases := []struct {
		name   string
		header nats.Header
		body   []byte
		want   string
	}{
		{"empty message", nil, nil, "empty message: no ce- headers and no body"},
		{"missing ce-id", without("ce-id"), bin.Data, "missing ce-id header"},
		{"empty ce-id", with("ce-id", ""), bin.Data, "missing ce-id header"},
		{"missing ce-specversion", without("ce-specversion"), bin.Data, "missing ce-specversion header"},
		{"old specversion", with("ce-specversion", "0.3"), bin.Data, `specversion must be "1.0", got "0.3"`},
		{"missing ce-source", without("ce-source"), bin.Data, "missing ce-source header"},
		{"missing ce-type", without("ce-type"), bin.Data, "missing ce-type header"},
		{"foreign type", with("ce-type", "com.example.other"), bin.Data, `unsupported type "com.example.other"`},
		{"bad time", with("ce-time", "yesterday"), bin.Data, `ce-time header: parsing time "yesterday"`},
		{"truncated escape", with("ce-subject", "abc%4"), bin.Data, "ce-subject header: truncated percent-encoding at byte 3"},
		{"malformed escape", with("ce-subject", "a%zzb"), bin.Data, `ce-subject header: malformed percent-encoding "%zz" at byte 1`},
		{"escaped invalid UTF-8", with("ce-subject", "%C0%A0"), bin.Data, "ce-subject header: not valid UTF-8"},
		{"raw invalid UTF-8", with("ce-subject", "\xff"), bin.Data, "ce-subject header: not valid UTF-8"},
		{"conflicting headers", func() nats.Header { h := with("ce-id", "a"); h["Ce-Id"] = []string{"b"}; return h }(), bin.Data, `conflicting ce-id headers: "a" and "b"`},
		{"not JSON data", with("ce-datacontenttype", "text/plain"), bin.Data, `unsupported datacontenttype "text/plain"`},
		{"no body", bin.Header, nil, "missing data"},
		{"body not JSON", bin.Header, []byte("{nope"), "data: not JSON: invalid character"},
		{"amount as a number", bin.Header, data("crypto_amount", twentyDigits), "data: json: cannot unmarshal number"},
		{"amount not decimal", bin.Header, data("amount", `"12,50"`), `data: amount "12,50" is not a decimal number`},
		{"unknown status", bin.Header, data("status", `"unknown"`), `data: status "unknown" is not a published status`},
		{"missing status", bin.Header, data("status", ""), "data: missing status"},
		{"missing provider", bin.Header, data("provider", `null`), "data: missing provider"},
		{"missing observed_at", bin.Header, data("observed_at", ""), "data: missing observed_at"},
		{"terminal disagrees", bin.Header, data("terminal", `true`), `data: terminal is true but status "underpaid" says false`},
		{"subject disagrees", with("ce-subject", "other"), bin.Data, `ce-subject header "other" disagrees with data payment_id`},
		{"status extension disagrees", with("ce-paymentstatus", "paid"), bin.Data, `ce-paymentstatus header "paid" disagrees with data status "underpaid"`},
		{"previous status on first sight", bin.Header, data("previous_status", "null"), `ce-previousstatus header "pending" disagrees with data previous_status ""`},
		{"structured: not an object", ceJSON, []byte(`["x"]`), "structured event: body is not a JSON object"},
		{"structured: broken JSON", ceJSON, []byte(`{"specversion":`), "structured event: not JSON"},
		{"structured: wrong member type", ceJSON, []byte(`{"specversion":1}`), "specversion: want a string, got number"},
		{"structured: extension not a string", ceJSON, []byte(strings.Replace(string(structured.Data), `"paymentstatus":"underpaid"`, `"paymentstatus":5`, 1)), `"paymentstatus" attribute: want a string, got int32`},
		{"structured: no specversion", ceJSON, []byte(`{"id":"x"}`), `missing "specversion" attribute`},
		{"structured: missing id", ceJSON, []byte(strings.Replace(string(structured.Data), `"id":"ev-1",`, "", 1)), `missing "id" attribute`},
		{"structured: no data", ceJSON, []byte(`{"specversion":"1.0","id":"x","source":"s","type":"` + events.TypeStatusChanged + `","data":null}`), "missing data"},
		{"structured: both data forms", ceJSON, []byte(strings.Replace(string(structured.Data), `"data":`, `"data_base64":"e30=","data":`, 1)), "both data and data_base64"},
		{"structured: bad base64", ceJSON, []byte(`{"specversion":"1.0","id":"x","source":"s","type":"` + events.TypeStatusChanged + `","data_base64":"%%%"}`), "data_base64 is not base64: illegal base64 data"},
		{"batch", nats.Header{"Content-Type": {"application/cloudevents-batch+json"}}, []byte(`[]`), "batched events (application/cloudevents-batch+json) are not supported"},
		{"other event format", nats.Header{"Content-Type": {"application/cloudevents+avro"}}, []byte(`x`), `unsupported event format "application/cloudevents+avro"`},
		{"plain JSON without headers", nil, []byte(`{"provider":"coinbar","payment_id":"x"}`), `missing "specversion" attribute`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := events.Decode(c.header, c.body)
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if !errors.Is(err, events.ErrInvalidEvent) {
				t.Errorf("error %v does not wrap ErrInvalidEvent", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
	if _, err := events.DecodeMsg(nil); err == nil || !errors.Is(err, events.ErrInvalidEvent) {
		t.Errorf("DecodeMsg(nil) = %v", err)
	}
	if _, err := events.DecodeJetStream(nil); err == nil || !errors.Is(err, events.ErrInvalidEvent) {
		t.Errorf("DecodeJetStream(nil) = %v", err)
	}
}

// Encode refuses what Decode would refuse, so nothing unreadable is published.
func TestEncodeRefuses(t *testing.T) {
	good := events.NewStatusChanged("ev-1", fullData())
	cases := []struct {
		name    string
		subject string
		edit    func(*events.Event)
		mode    events.Mode
		want    string
	}{
		{"empty subject", "", func(*events.Event) {}, events.Binary, "empty NATS subject"},
		{"no id", "s", func(e *events.Event) { e.ID = "" }, events.Binary, "missing id"},
		{"no source", "s", func(e *events.Event) { e.Source = "" }, events.Binary, "missing source"},
		{"foreign type", "s", func(e *events.Event) { e.Type = "x" }, events.Structured, `unsupported type "x"`},
		{"subject is not the payment", "s", func(e *events.Event) { e.Subject = "other" }, events.Binary, `subject "other" is not the data's payment_id`},
		{"unknown status", "s", func(e *events.Event) { e.Data.Status = paybridge.StatusUnknown }, events.Binary, `status "unknown" is not a published status`},
		{"float-looking amount", "s", func(e *events.Event) { e.Data.Amount = "1e" }, events.Binary, `amount "1e" is not a decimal number`},
		{"unknown mode", "s", func(*events.Event) {}, events.Mode(7), "unknown mode Mode(7)"},
		{"payment id not UTF-8", "s", func(e *events.Event) { e.Subject, e.Data.PaymentID = "a\xff", "a\xff" }, events.Structured,
			"subject attribute: not valid UTF-8"},
		{"source not a URI reference", "s", func(e *events.Event) { e.Source = "%zz" }, events.Binary, `source "%zz": `},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := good
			c.edit(&e)
			m, err := events.Encode(c.subject, e, c.mode)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Encode = %v, %v; want error containing %q", m, err, c.want)
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	for s, want := range map[string]events.Mode{"binary": events.Binary, "structured": events.Structured} {
		got, err := events.ParseMode(s)
		if err != nil || got != want || got.String() != s {
			t.Errorf("ParseMode(%q) = %v, %v", s, got, err)
		}
		var m events.Mode
		if err := m.UnmarshalText([]byte(s)); err != nil || m != want {
			t.Errorf("UnmarshalText(%q) = %v, %v", s, m, err)
		}
		if b, err := want.MarshalText(); err != nil || string(b) != s {
			t.Errorf("MarshalText(%v) = %q, %v", want, b, err)
		}
	}
	if _, err := events.ParseMode("Binary"); err == nil || err.Error() != `unknown event mode "Binary" (want binary or structured)` {
		t.Errorf("ParseMode(Binary) error = %v", err)
	}
	if _, err := events.Mode(3).MarshalText(); err == nil {
		t.Error("MarshalText of an unknown mode succeeded")
	}
	if events.Mode(0) != events.Binary {
		t.Error("the zero Mode is not Binary")
	}
}

// The distributed-tracing extension travels as the traceparent and
// tracestate attributes: ce- headers in binary mode, members in structured
// mode, where any CloudEvents reader finds them.
func TestTraceContextIsTheDistributedTracingExtension(t *testing.T) {
	e := events.NewStatusChanged("ev-t", fullData())
	e.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	e.TraceState = "congo=t61rcWkgMzE"
	binary := mustEncode(t, e, events.Binary)
	if binary.Header.Get("ce-traceparent") != e.TraceParent || binary.Header.Get("ce-tracestate") != e.TraceState {
		t.Fatalf("binary headers: %v", binary.Header)
	}
	structured := mustEncode(t, e, events.Structured)
	var members map[string]any
	if err := json.Unmarshal(structured.Data, &members); err != nil {
		t.Fatal(err)
	}
	if members["traceparent"] != e.TraceParent || members["tracestate"] != e.TraceState {
		t.Fatalf("structured members: %v", members)
	}
	untraced := mustEncode(t, events.NewStatusChanged("ev-u", fullData()), events.Binary)
	if _, ok := untraced.Header["ce-traceparent"]; ok {
		t.Fatal("an event outside any trace carries a traceparent")
	}
}
