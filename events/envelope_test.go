package events_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/paybridge/paybridge/events"
)

// ReadEnvelope is the one rule set for telling a CloudEvent's content mode
// from a plain message, used by Decode and by the bridge's intake alike.
func TestReadEnvelope(t *testing.T) {
	const request = `{"provider":"coinbar","payment_id":"pay_1"}`
	structured := `{"specversion":"1.0","id":"e-1","source":"urn:test","type":"t","data":` + request + `}`
	binary := func(extra ...string) nats.Header {
		h := nats.Header{"ce-specversion": {"1.0"}, "ce-id": {"e-1"}, "ce-source": {"urn:test"}, "ce-type": {"t"}}
		for i := 0; i+1 < len(extra); i += 2 {
			h[extra[i]] = []string{extra[i+1]}
		}
		return h
	}
	ce := nats.Header{"Content-Type": {"application/cloudevents+json"}}
	withMembers := func(members string) string {
		return `{"specversion":"1.0","id":"e-1","source":"urn:test","type":"t",` + members + `}`
	}
	// The base64 of slashes holds "/", which a JSON writer may escape.
	const slashes = `{"provider":"coinbar","payment_id":"a??>b"}`
	escapedBase64 := strings.ReplaceAll(base64.StdEncoding.EncodeToString([]byte(slashes)), "/", `\/`)
	if !strings.Contains(escapedBase64, `\/`) {
		t.Fatal("the data's base64 has no slash to escape")
	}
	cases := []struct {
		name        string
		header      nats.Header
		body        string
		mode        string // "plain", "binary" or "structured"
		contentType string // the event's datacontenttype
		data        string // the event's data
	}{
		{name: "no header", body: request, mode: "plain"},
		{name: "a JSON content type only", header: nats.Header{"Content-Type": {"application/json"}}, body: request, mode: "plain"},
		{name: "other headers only", header: nats.Header{"Nats-Msg-Id": {"x"}, "cents": {"5"}}, body: request, mode: "plain"},
		{name: "structured", header: nats.Header{"Content-Type": {"application/cloudevents+json"}}, body: structured,
			mode: "structured", data: request},
		{name: "structured, any case, with parameters", header: nats.Header{"content-TYPE": {"Application/CloudEvents+JSON ; charset=UTF-8"}},
			body: structured, mode: "structured", data: request},
		{name: "structured wins over ce- headers", header: nats.Header{"Content-Type": {"application/cloudevents+json"}, "ce-id": {"other"}},
			body: structured, mode: "structured", data: request},
		{name: "binary", header: binary(), body: request, mode: "binary", data: request},
		{name: "binary, header names in any case", header: nats.Header{"CE-SPECVERSION": {"1.0"}, "Ce-Id": {"e-1"}, "ce-Source": {"urn:test"}, "cE-type": {"t"}},
			body: request, mode: "binary", data: request},
		{name: "binary by any ce- header, not only ce-specversion", header: nats.Header{"ce-id": {"e-1"}}, body: request,
			mode: "error: specversion is required (missing ce-specversion header)"},
		{name: "binary content type from ce-datacontenttype", header: binary("ce-datacontenttype", "application/json;%20charset=utf-8", "content-type", "text/plain"),
			body: request, mode: "binary", contentType: "application/json; charset=utf-8", data: request},
		{name: "binary content type from an unprefixed content-type", header: binary("Content-Type", "application/json"),
			body: request, mode: "binary", contentType: "application/json", data: request},
		{name: "batch", header: nats.Header{"Content-Type": {"application/cloudevents-batch+json"}}, body: "[]",
			mode: "error: batched events (application/cloudevents-batch+json) are not supported"},
		{name: "another event format", header: nats.Header{"Content-Type": {"application/cloudevents+xml"}}, body: "<x/>",
			mode: `error: unsupported event format "application/cloudevents+xml"`},
		{name: "two content types", header: nats.Header{"Content-Type": {"application/json"}, "content-type": {"application/cloudevents+json"}},
			body: structured, mode: `error: conflicting content-type headers: "application/cloudevents+json" and "application/json"`},
		{name: "not a CloudEvents attribute name", header: binary("ce-trace-parent", "x"), body: request,
			mode: `error: "ce-trace-parent" header: "trace-parent" is not a CloudEvents attribute name`},
		{name: "CloudEvents 0.3", header: binary("ce-specversion", "0.3"), body: request, mode: `error: specversion must be "1.0", got "0.3"`},
		{name: "binary without an id", header: binary("ce-id", ""), body: request, mode: "error: id is required (missing ce-id header)"},
		{name: "binary with a blank subject", header: binary("ce-subject", "%20"), body: request, mode: "error: ce-subject header: if present, MUST be a non-empty string"},
		// Any +json type is JSON, in this mode as in the binary one (sdk-go's
		// reader knows only a few exact types, and wanted a string).
		{name: "structured, another +json type", header: ce, body: withMembers(`"datacontenttype":"application/vnd.acme+json","data":` + request),
			mode: "structured", contentType: "application/vnd.acme+json", data: request},
		{name: "structured, a +json type with parameters", header: ce,
			body: withMembers(`"datacontenttype":"application/merge-patch+json; charset=utf-8","data":` + request),
			mode: "structured", contentType: "application/merge-patch+json; charset=utf-8", data: request},
		// data_base64 as PHP's json_encode writes it, "/" escaped: read alike
		// whatever the order of its members.
		{name: "data_base64 escaped, no datacontenttype", header: ce, body: withMembers(`"data_base64":"` + escapedBase64 + `"`),
			mode: "structured", data: slashes},
		{name: "data_base64 escaped, datacontenttype after", header: ce,
			body: withMembers(`"data_base64":"` + escapedBase64 + `","datacontenttype":"application/json"`),
			mode: "structured", contentType: "application/json", data: slashes},
		{name: "data_base64 escaped, datacontenttype before", header: ce,
			body: withMembers(`"datacontenttype":"application/json","data_base64":"` + escapedBase64 + `"`),
			mode: "structured", contentType: "application/json", data: slashes},
		{name: "structured without a JSON object", header: nats.Header{"Content-Type": {"application/cloudevents+json"}}, body: request,
			mode: `error: specversion is required (missing "specversion" attribute)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, err := events.ReadEnvelope(c.header, []byte(c.body))
			if want, ok := strings.CutPrefix(c.mode, "error: "); ok {
				var bad *events.InvalidEventError
				if !errors.As(err, &bad) || !errors.Is(err, events.ErrInvalidEvent) || !strings.Contains(bad.Reason, want) {
					t.Fatalf("ReadEnvelope = %v, want an *InvalidEventError with %q", err, want)
				}
				if env.Event != nil {
					t.Errorf("an error came with an event: %v", env.Event)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadEnvelope: %v", err)
			}
			if c.mode == "plain" {
				if env.Event != nil {
					t.Fatalf("a plain message read as a %v CloudEvent", env.Mode)
				}
				return
			}
			if env.Event == nil || env.Mode.String() != c.mode {
				t.Fatalf("got event %v in mode %v, want mode %s", env.Event, env.Mode, c.mode)
			}
			if got := env.Event.DataContentType(); got != c.contentType {
				t.Errorf("datacontenttype %q, want %q", got, c.contentType)
			}
			if got := string(env.Event.Data()); got != c.data {
				t.Errorf("data %s, want %s", got, c.data)
			}
			if env.Event.ID() != "e-1" || env.Event.Source() != "urn:test" || env.Event.Type() != "t" {
				t.Errorf("attributes id %q source %q type %q", env.Event.ID(), env.Event.Source(), env.Event.Type())
			}
		})
	}
}

// The data is the bytes as sent: numbers are never parsed (an amount as a
// JSON number keeps its digits), and data_base64 is decoded.
func TestReadEnvelopeKeepsDataRaw(t *testing.T) {
	data := `{"amount": 0.00045145423250897323, "big": 123456789012345678901234567890, "s": "\u00fc"}`
	head := `{"specversion":"1.0","id":"e-1","source":"urn:test","type":"t",`
	ceJSON := nats.Header{"Content-Type": {"application/cloudevents+json"}}
	for name, body := range map[string]string{
		"data":        head + `"data":` + data + `}`,
		"data_base64": head + `"data_base64":"` + base64.StdEncoding.EncodeToString([]byte(data)) + `"}`,
	} {
		env, err := events.ReadEnvelope(ceJSON, []byte(body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := env.Event.Data(); !bytes.Equal(got, []byte(data)) {
			t.Errorf("%s: data %s, want %s", name, got, data)
		}
	}
	env, err := events.ReadEnvelope(nats.Header{"ce-specversion": {"1.0"}, "ce-id": {"e"}, "ce-source": {"s"}, "ce-type": {"t"}}, []byte(data))
	if err != nil || !bytes.Equal(env.Event.Data(), []byte(data)) {
		t.Errorf("binary: data %s, %v", env.Event.Data(), err)
	}
}

// Every extension reaches the event in both modes, not only paybridge's:
// the distributed-tracing extension will need nothing more of the reader.
func TestReadEnvelopeKeepsExtensions(t *testing.T) {
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for mode, msg := range map[string]struct {
		header nats.Header
		body   string
	}{
		"binary": {nats.Header{"ce-specversion": {"1.0"}, "ce-id": {"e"}, "ce-source": {"s"}, "ce-type": {"t"},
			"Ce-Traceparent": {traceparent}, "ce-tracestate": {"k=v%2C%20w"}}, `{}`},
		"structured": {nats.Header{"Content-Type": {"application/cloudevents+json"}},
			`{"specversion":"1.0","id":"e","source":"s","type":"t","traceparent":"` + traceparent + `","tracestate":"k=v, w","data":{}}`},
	} {
		env, err := events.ReadEnvelope(msg.header, []byte(msg.body))
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		ext := env.Event.Extensions()
		if ext["traceparent"] != traceparent || ext["tracestate"] != "k=v, w" {
			t.Errorf("%s: extensions %v", mode, ext)
		}
	}
}

// Structured-mode input that sdk-go's JSON reader alone would misread, or
// panic on, is refused with an error naming the problem.
func TestReadEnvelopeStructuredStrictness(t *testing.T) {
	head := `{"specversion":"1.0","id":"e","source":"s","type":"t",`
	ceJSON := nats.Header{"Content-Type": {"application/cloudevents+json"}}
	for _, c := range []struct{ name, body, want string }{
		{"data_base64 a number", head + `"data_base64":1}`, "data_base64: want a string, got number"},
		{"data_base64 before specversion", `{"data_base64":{},"specversion":"1.0"}`, "data_base64: want a string, got object"},
		{"empty member name", head + `"":1,"data":{}}`, `attribute name "" is not lower-case letters and digits`},
		{"duplicate data", head + `"data":{},"data":{"x":1}}`, `duplicate attribute "data"`},
		{"duplicate id", head + `"id":"f"}`, `duplicate attribute "id"`},
		{"object extension", head + `"ext":{"a":1}}`, `extension "ext": want a string, an integer or a boolean, got object`},
		{"fractional extension", head + `"ext":2.5}`, `extension "ext": "2.5" is not a 32-bit integer`},
		{"id not a string", `{"specversion":"1.0","id":7}`, "id: want a string, got number"},
		{"trailing data", head + `"data":{}} x`, "not JSON: invalid character 'x' after top-level value"},
		{"broken JSON", head + `"data":{`, "structured event: not JSON"},
		{"not an object", `[]`, "structured event: body is not a JSON object, got array"},
		{"text data typed as not JSON", head + `"datacontenttype":"text/plain","data":{}}`,
			`datacontenttype "text/plain" is not JSON, so data must be a string, got object`},
		{"both data forms", head + `"data":{},"data_base64":"e30="}`, "has both data and data_base64"},
		{"blank id", head[:len(head)-len(`"id":"e","source":"s","type":"t",`)] + `"id":"  ","source":"s","type":"t"}`, `id is required (missing "id" attribute)`},
		{"bad source", head[:len(head)-len(`"source":"s","type":"t",`)] + `"source":"%zz","type":"t"}`, "structured event: cannot parse uri ref"},
		{"bad time", head + `"time":"yesterday"}`, "structured event: "},
		{"bad dataschema", head + `"dataschema":"http://[::1"}`, `dataschema "http://[::1" is not a URI`},
		{"invalid UTF-8", head + "\"subject\":\"\xff\"}", `"subject" attribute: not valid UTF-8`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := events.ReadEnvelope(ceJSON, []byte(c.body))
			var bad *events.InvalidEventError
			if !errors.As(err, &bad) || !strings.Contains(bad.Reason, c.want) {
				t.Fatalf("ReadEnvelope = %v, want %q", err, c.want)
			}
		})
	}
	// Null members are absent attributes: a null datacontenttype after
	// specversion does not make sdk-go read the data as text.
	env, err := events.ReadEnvelope(ceJSON, []byte(head+`"datacontenttype":null,"subject":null,"ext":null,"data_base64":null,"data":{"a":1}}`))
	if err != nil || env.Event.DataContentType() != "" || env.Event.Subject() != "" || string(env.Event.Data()) != `{"a":1}` || len(env.Event.Extensions()) != 0 {
		t.Errorf("null members: %v, %v", env.Event, err)
	}
}

// Reasons quote little of a hostile message.
func TestReadEnvelopeReasonsAreShort(t *testing.T) {
	long := strings.Repeat("é", 5000)
	for name, msg := range map[string]struct {
		header nats.Header
		body   string
	}{
		"specversion": {nats.Header{"ce-specversion": {long}}, ""},
		"time":        {nats.Header{"ce-specversion": {"1.0"}, "ce-id": {"e"}, "ce-source": {"s"}, "ce-type": {"t"}, "ce-time": {long}}, ""},
		"conflict":    {nats.Header{"ce-id": {long}, "Ce-Id": {long + "x"}}, ""},
		"name":        {nats.Header{"ce-" + strings.Repeat("A_", 3000): {"x"}}, ""},
		"format":      {nats.Header{"Content-Type": {"application/cloudevents+" + long}}, ""},
		"source":      {nats.Header{"Content-Type": {"application/cloudevents+json"}}, `{"specversion":"1.0","id":"e","type":"t","source":"%` + long + `"}`},
	} {
		_, err := events.ReadEnvelope(msg.header, []byte(msg.body))
		var bad *events.InvalidEventError
		if !errors.As(err, &bad) {
			t.Fatalf("%s: %v", name, err)
		}
		if len(bad.Reason) > 200 {
			t.Errorf("%s: reason is %d bytes: %.300s", name, len(bad.Reason), bad.Reason)
		}
	}
	// Nor is what they quote raw: no line breaks or other controls.
	_, err := events.ReadEnvelope(nats.Header{"Content-Type": {"application/cloudevents+json"}},
		[]byte(`{"specversion":"1.0","id":"e","type":"t","source":"x\r\nsecret=abc\u2028 %zz"}`))
	var bad *events.InvalidEventError
	if !errors.As(err, &bad) || strings.ContainsAny(bad.Reason, "\r\n\u2028") {
		t.Errorf("a bad source's reason: %q (%v)", bad.Reason, err)
	}
}
