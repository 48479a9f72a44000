package bridge

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/schemas"
)

// requestCase is one message on payments.check. A valid case has want set
// and wantErr nil; an invalid one lists substrings its error message must
// hold.
type requestCase struct {
	name    string
	header  nats.Header
	body    string
	want    CheckRequest
	wantErr []string
	// schemaAccepts, on an invalid plain request, says why the JSON Schema
	// accepts what the decoder refuses. The decoder may be stricter than
	// the schema, never looser; these are all the ways it is:
	//   - the 64 KiB size limit (not a schema notion);
	//   - byte lengths (payment_id 256, provider 64, request_id 128), where
	//     the schema can only count characters;
	//   - payment_id "." and "..", which no provider URL path can hold;
	//   - max_age over 30 days or too large for a time.Duration (the schema
	//     checks the duration's syntax only);
	//   - control characters in provider and request_id (the schema only
	//     forbids them in payment_id);
	//   - invalid UTF-8 and lone \u surrogates, which encoding/json (under
	//     the validator) quietly turns into U+FFFD;
	//   - duplicate keys, where encoding/json keeps the last one.
	schemaAccepts string
}

const (
	byteLimits   = "the schema counts characters, the decoder bytes"
	dotSegments  = "dot segments are the decoder's rule"
	blankIDs     = "an id of only white space is the decoder's rule"
	maxAgeRange  = "the schema checks duration syntax, not range"
	controlChars = "the schema forbids control characters only in payment_id"
	notText      = "encoding/json turns invalid UTF-8 and lone surrogates into U+FFFD"
	duplicateKey = "encoding/json keeps the last of duplicate keys"
	sizeLimit    = "the size limit is the decoder's"
)

func structuredMode() nats.Header {
	return nats.Header{"Content-Type": {"application/cloudevents+json; charset=utf-8"}}
}

// binaryMode returns the headers of a binary-mode CloudEvent; pairs of
// name, value override them (an empty value deletes the header).
func binaryMode(pairs ...string) nats.Header {
	h := nats.Header{
		"ce-specversion": {"1.0"},
		"ce-id":          {"evt-1"},
		"ce-source":      {"urn:test:client"},
		"ce-type":        {"io.paybridge.check.requested.v1"},
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			delete(h, pairs[i])
			continue
		}
		h[pairs[i]] = []string{pairs[i+1]}
	}
	return h
}

// event is a structured CloudEvent with the given members after the
// required attributes.
func event(members string) string {
	return `{"specversion":"1.0","id":"evt-1","source":"urn:test:client","type":"io.paybridge.check.requested.v1",` + members + `}`
}

// withID is a minimal request for payment id, written as JSON text.
func withID(id string) string {
	return `{"provider":"coinbar","payment_id":"` + id + `"}`
}

func padded(body string, size int) string {
	return body + strings.Repeat(" ", size-len(body))
}

var minimal = CheckRequest{Provider: "coinbar", PaymentID: "pay_1"}

func checkRequestCases() []requestCase {
	euro256 := strings.Repeat("€", 85) + "a" // 256 bytes, 86 characters
	return []requestCase{
		// Valid requests.
		{name: "minimal", body: `{"provider":"coinbar","payment_id":"pay_1"}`, want: minimal},
		{name: "all fields",
			body: `{"provider":"muvinai","payment_id":"pr_9","max_age":"1m30s","watch":true,"request_id":"r-1"}`,
			want: CheckRequest{Provider: "muvinai", PaymentID: "pr_9", MaxAge: 90 * time.Second, Watch: true, RequestID: "r-1"}},
		{name: "nulls for optional fields",
			body: `{"provider":"coinbar","payment_id":"pay_1","max_age":null,"watch":null,"request_id":null}`, want: minimal},
		{name: "white space everywhere",
			body: " \t\r\n{ \"provider\" : \"coinbar\" ,\n\"payment_id\":\"pay_1\" , \"watch\" : false }\n", want: minimal},
		{name: "escapes in keys and values",
			body: `{"pro\u0076ider":"coin\u0062ar","payment_id":"pay\u005f1 \"q\" \\ \/ \ud83d\ude00 \u00e9"}`,
			want: CheckRequest{Provider: "coinbar", PaymentID: `pay_1 "q" \ / 😀 é`}},
		{name: "max_age zero", body: `{"provider":"coinbar","payment_id":"pay_1","max_age":"0"}`, want: minimal},
		{name: "max_age fraction and micro sign",
			body: `{"provider":"coinbar","payment_id":"pay_1","max_age":".5s1µs"}`,
			want: CheckRequest{Provider: "coinbar", PaymentID: "pay_1", MaxAge: 500*time.Millisecond + time.Microsecond}},
		{name: "max_age 30 days", body: `{"provider":"coinbar","payment_id":"pay_1","max_age":"720h"}`,
			want: CheckRequest{Provider: "coinbar", PaymentID: "pay_1", MaxAge: 720 * time.Hour}},
		{name: "empty request_id", body: `{"provider":"coinbar","payment_id":"pay_1","request_id":""}`, want: minimal},
		{name: "request_id of 128 bytes",
			body: `{"provider":"coinbar","payment_id":"pay_1","request_id":"` + strings.Repeat("r", 128) + `"}`,
			want: CheckRequest{Provider: "coinbar", PaymentID: "pay_1", RequestID: strings.Repeat("r", 128)}},
		{name: "payment_id of 256 bytes", body: withID(strings.Repeat("x", 256)),
			want: CheckRequest{Provider: "coinbar", PaymentID: strings.Repeat("x", 256)}},
		{name: "payment_id of 256 bytes of multi-byte UTF-8", body: withID(euro256),
			want: CheckRequest{Provider: "coinbar", PaymentID: euro256}},
		{name: "body of exactly 64 KiB", body: padded(withID("pay_1"), MaxRequestBytes), want: minimal},
		// Hostile-looking ids are valid: the bridge encodes them where used.
		{name: "subject wildcards", body: withID("a.b.*>"), want: CheckRequest{Provider: "coinbar", PaymentID: "a.b.*>"}},
		{name: "path traversal", body: withID("../../x"), want: CheckRequest{Provider: "coinbar", PaymentID: "../../x"}},
		{name: "JetStream API subject", body: withID("$JS.API.>"), want: CheckRequest{Provider: "coinbar", PaymentID: "$JS.API.>"}},
		{name: "three dots", body: withID("..."), want: CheckRequest{Provider: "coinbar", PaymentID: "..."}},
		{name: "URL metacharacters", body: withID("a b/c?d#e%2F&f=g"),
			want: CheckRequest{Provider: "coinbar", PaymentID: "a b/c?d#e%2F&f=g"}},
		{name: "replacement character sent on purpose", body: withID("a\uFFFDb"),
			want: CheckRequest{Provider: "coinbar", PaymentID: "a\uFFFDb"}},
		// CloudEvents.
		{name: "structured with data", header: structuredMode(),
			body: event(`"datacontenttype":"application/json","ext":"s","count":-2500,"flag":true,"gone":null,"data":{"provider":"coinbar","payment_id":"pay_1","watch":true}`),
			want: CheckRequest{Provider: "coinbar", PaymentID: "pay_1", Watch: true}},
		{name: "structured with data_base64", header: structuredMode(),
			body: event(`"data_base64":"` + base64.StdEncoding.EncodeToString([]byte(withID("pay_1"))) + `"`),
			want: minimal},
		{name: "structured content type in capitals",
			header: nats.Header{"content-type": {"Application/CloudEvents+JSON"}},
			body:   event(`"data":` + withID("pay_1")), want: minimal},
		{name: "plain request: Content-Type is not looked at", header: nats.Header{"Content-Type": {"text/plain"}},
			body: withID("pay_1"), want: minimal},
		{name: "binary", header: binaryMode(), body: withID("pay_1"), want: minimal},
		{name: "binary, header names in any case and percent-encoded values",
			header: nats.Header{"Ce-Specversion": {"1.0"}, "CE-ID": {"evt%201"}, "ce-source": {"urn:test:%C3%BC"}, "ce-Type": {"t"},
				"Ce-Datacontenttype": {"application%2Fjson"}},
			body: withID("pay_1"), want: minimal},
		{name: "binary with JSON content types",
			header: binaryMode("ce-datacontenttype", "application/json;%20charset=utf-8", "Content-Type", "application/vnd.paybridge.check+json"),
			body:   withID("pay_1"), want: minimal},

		// Not JSON, or not one object.
		{name: "empty body", body: "", wantErr: []string{"not JSON", "unexpected end of input"}},
		{name: "only white space", body: " \n", wantErr: []string{"not JSON", "unexpected end of input"}},
		{name: "not JSON at all", body: "provider=coinbar", wantErr: []string{"not JSON", "invalid character 'p' at byte 0"}},
		{name: "binary garbage", body: "\xff\xfe{", wantErr: []string{"not JSON", "invalid byte 0xff at byte 0"}},
		{name: "truncated object", body: `{"provider":"coinbar",`, wantErr: []string{"not JSON", "unexpected end of input"}},
		{name: "truncated string", body: `{"provider":"coinbar","payment_id":"pay`, wantErr: []string{"payment_id", "unexpected end of input"}},
		{name: "truncated literal", body: `{"provider":"coinbar","payment_id":"p","watch":tru`, wantErr: []string{"unexpected end of input"}},
		{name: "single quotes", body: `{'provider':'coinbar'}`, wantErr: []string{"invalid character '''"}},
		{name: "trailing comma", body: `{"provider":"coinbar","payment_id":"p",}`, wantErr: []string{"invalid character '}'"}},
		{name: "missing colon", body: `{"provider" "coinbar"}`, wantErr: []string{"invalid character '\"'"}},
		{name: "array", body: `[{"provider":"coinbar","payment_id":"p"}]`, wantErr: []string{"must be a JSON object, got array"}},
		{name: "string", body: `"coinbar"`, wantErr: []string{"must be a JSON object, got string"}},
		{name: "number", body: `42`, wantErr: []string{"must be a JSON object, got number"}},
		{name: "null", body: `null`, wantErr: []string{"must be a JSON object, got null"}},
		{name: "trailing garbage", body: withID("p") + ` x`, wantErr: []string{"data after the object at byte 40"}},
		{name: "two objects", body: withID("p") + `{}`, wantErr: []string{"data after the object"}},
		{name: "invalid escape", body: withID(`p\x`), wantErr: []string{"payment_id", `invalid escape '\x'`}},
		{name: "short unicode escape", body: withID(`p\u12"`), wantErr: []string{"payment_id", `invalid \u escape`}},
		{name: "raw NUL in a string", body: withID("p\x00q"), wantErr: []string{"payment_id", "control character U+0000"}},

		// Missing fields and wrong types.
		{name: "empty object", body: `{}`, wantErr: []string{"provider: is required"}},
		{name: "missing provider", body: `{"payment_id":"p"}`, wantErr: []string{"provider: is required"}},
		{name: "missing payment_id", body: `{"provider":"coinbar"}`, wantErr: []string{"payment_id: is required"}},
		{name: "null provider", body: `{"provider":null,"payment_id":"p"}`, wantErr: []string{"provider: is required, got null"}},
		{name: "null payment_id", body: `{"provider":"coinbar","payment_id":null}`, wantErr: []string{"payment_id: is required, got null"}},
		{name: "provider number", body: `{"provider":1,"payment_id":"p"}`, wantErr: []string{"provider: want a string, got number"}},
		{name: "provider boolean", body: `{"provider":true,"payment_id":"p"}`, wantErr: []string{"provider: want a string, got boolean"}},
		{name: "provider object", body: `{"provider":{},"payment_id":"p"}`, wantErr: []string{"provider: want a string, got object"}},
		{name: "provider array", body: `{"provider":["coinbar"],"payment_id":"p"}`, wantErr: []string{"provider: want a string, got array"}},
		{name: "payment_id number", body: `{"provider":"coinbar","payment_id":12345}`, wantErr: []string{"payment_id: want a string, got number"}},
		{name: "payment_id negative number", body: `{"provider":"coinbar","payment_id":-1}`, wantErr: []string{"payment_id: want a string, got number"}},
		{name: "payment_id boolean", body: `{"provider":"coinbar","payment_id":false}`, wantErr: []string{"payment_id: want a string, got boolean"}},
		{name: "payment_id object", body: `{"provider":"coinbar","payment_id":{"id":"p"}}`, wantErr: []string{"payment_id: want a string, got object"}},
		{name: "payment_id array", body: `{"provider":"coinbar","payment_id":["p"]}`, wantErr: []string{"payment_id: want a string, got array"}},
		{name: "max_age number", body: `{"provider":"coinbar","payment_id":"p","max_age":30}`, wantErr: []string{"max_age: want a string, got number"}},
		{name: "max_age boolean", body: `{"provider":"coinbar","payment_id":"p","max_age":true}`, wantErr: []string{"max_age: want a string, got boolean"}},
		{name: "watch string", body: `{"provider":"coinbar","payment_id":"p","watch":"true"}`, wantErr: []string{"watch: want a boolean, got string"}},
		{name: "watch number", body: `{"provider":"coinbar","payment_id":"p","watch":1}`, wantErr: []string{"watch: want a boolean, got number"}},
		{name: "watch object", body: `{"provider":"coinbar","payment_id":"p","watch":{}}`, wantErr: []string{"watch: want a boolean, got object"}},
		{name: "request_id number", body: `{"provider":"coinbar","payment_id":"p","request_id":7}`, wantErr: []string{"request_id: want a string, got number"}},
		{name: "request_id array", body: `{"provider":"coinbar","payment_id":"p","request_id":[]}`, wantErr: []string{"request_id: want a string, got array"}},
		{name: "value is not JSON", body: `{"provider":coinbar}`, wantErr: []string{"not JSON", "invalid character 'c' at byte 12"}},

		// Unknown and duplicate fields.
		{name: "unknown field", body: `{"provider":"coinbar","payment_id":"p","amount":"1.00"}`, wantErr: []string{`unknown field "amount"`}},
		{name: "field names are case-sensitive", body: `{"Provider":"coinbar","payment_id":"p"}`, wantErr: []string{`unknown field "Provider"`}},
		{name: "huge unknown field name", body: `{"` + strings.Repeat("k", 5000) + `":1}`, wantErr: []string{`unknown field "kkkk`, `…"`}},
		{name: "duplicate field", body: `{"provider":"coinbar","payment_id":"p","provider":"muvinai"}`,
			wantErr: []string{`duplicate field "provider"`}, schemaAccepts: duplicateKey},
		{name: "duplicate after null", body: `{"provider":"coinbar","payment_id":"p","max_age":null,"max_age":"1s"}`,
			wantErr: []string{`duplicate field "max_age"`}, schemaAccepts: duplicateKey},

		// Sizes.
		{name: "64 KiB + 1 byte", body: padded(withID("pay_1"), MaxRequestBytes+1),
			wantErr: []string{"request is 65537 bytes, the limit is 65536"}, schemaAccepts: sizeLimit},
		{name: "1 MiB payload", body: withID(strings.Repeat("x", 1<<20)),
			wantErr: []string{"request is 1048614 bytes, the limit is 65536"}},
		{name: "payment_id of 257 bytes", body: withID(strings.Repeat("x", 257)),
			wantErr: []string{"payment_id: must be 1 to 256 bytes, got 257"}},
		{name: "payment_id of 257 bytes in 87 characters", body: withID(euro256 + "b"),
			wantErr: []string{"payment_id: must be 1 to 256 bytes, got 257"}, schemaAccepts: byteLimits},
		{name: "empty payment_id", body: withID(""), wantErr: []string{"payment_id: must be 1 to 256 bytes, got 0"}},
		{name: "empty provider", body: `{"provider":"","payment_id":"p"}`, wantErr: []string{"provider: must be 1 to 64 bytes, got 0"}},
		{name: "provider of 65 bytes", body: `{"provider":"` + strings.Repeat("p", 65) + `","payment_id":"p"}`,
			wantErr: []string{"provider: must be 1 to 64 bytes, got 65"}},
		{name: "provider of 66 bytes in 33 characters", body: `{"provider":"` + strings.Repeat("é", 33) + `","payment_id":"p"}`,
			wantErr: []string{"provider: must be 1 to 64 bytes, got 66"}, schemaAccepts: byteLimits},
		{name: "request_id of 129 bytes", body: `{"provider":"coinbar","payment_id":"p","request_id":"` + strings.Repeat("r", 129) + `"}`,
			wantErr: []string{"request_id: must be at most 128 bytes, got 129"}},
		{name: "request_id of 130 bytes in 65 characters", body: `{"provider":"coinbar","payment_id":"p","request_id":"` + strings.Repeat("é", 65) + `"}`,
			wantErr: []string{"request_id: must be at most 128 bytes, got 130"}, schemaAccepts: byteLimits},

		// Text that is not allowed.
		{name: "NUL in payment_id", body: withID(`ab\u0000c`), wantErr: []string{"payment_id: contains control character U+0000 at byte 2"}},
		{name: "BEL in payment_id", body: withID(`abc\u0007`), wantErr: []string{"payment_id: contains control character U+0007 at byte 3"}},
		{name: "newline in payment_id", body: withID(`a\nb`), wantErr: []string{"payment_id: contains control character U+000A at byte 1"}},
		{name: "raw DEL in payment_id", body: withID("a\x7f"), wantErr: []string{"payment_id: contains control character U+007F at byte 1"}},
		{name: "raw U+0085 in payment_id", body: withID("é\u0085"), wantErr: []string{"payment_id: contains control character U+0085 at byte 2"}},
		{name: "escaped U+0085 in payment_id", body: withID(`\u0085`), wantErr: []string{"payment_id: contains control character U+0085 at byte 0"}},
		{name: "NUL in request_id", body: `{"provider":"coinbar","payment_id":"p","request_id":"r\u0000"}`,
			wantErr: []string{"request_id: contains control character U+0000 at byte 1"}},
		{name: "BEL in request_id", body: `{"provider":"coinbar","payment_id":"p","request_id":"\u0007"}`,
			wantErr: []string{"request_id: contains control character U+0007"}},
		{name: "DEL in request_id", body: "{\"provider\":\"coinbar\",\"payment_id\":\"p\",\"request_id\":\"\x7f\"}",
			wantErr: []string{"request_id: contains control character U+007F"}},
		{name: "U+0085 in request_id", body: `{"provider":"coinbar","payment_id":"p","request_id":"\u0085"}`,
			wantErr: []string{"request_id: contains control character U+0085"}},
		{name: "tab in provider", body: `{"provider":"coin\tbar","payment_id":"p"}`,
			wantErr: []string{"provider: contains control character U+0009 at byte 4"}, schemaAccepts: controlChars},
		{name: "invalid UTF-8 in payment_id", body: withID("pay\xff"),
			wantErr: []string{"payment_id: not valid UTF-8 at byte 3"}, schemaAccepts: notText},
		{name: "UTF-8-encoded surrogate in payment_id", body: withID("\xed\xa0\x80"),
			wantErr: []string{"payment_id: not valid UTF-8 at byte 0"}, schemaAccepts: notText},
		{name: "lone surrogate escape in payment_id", body: withID(`a\ud800b`),
			wantErr: []string{"payment_id:", `lone UTF-16 surrogate \ud800`}, schemaAccepts: notText},
		{name: "reversed surrogate pair", body: withID(`\ude00\ud83d`),
			wantErr: []string{"payment_id:", `lone UTF-16 surrogate \ude00`}, schemaAccepts: notText},
		{name: "payment_id dot", body: withID("."),
			wantErr: []string{`payment_id: "." is a dot segment`, "URL path"}, schemaAccepts: dotSegments},
		{name: "payment_id dot dot", body: withID(".."),
			wantErr: []string{`payment_id: ".." is a dot segment`}, schemaAccepts: dotSegments},
		{name: "payment_id escaped dot dot", body: withID(`\u002e\u002E`),
			wantErr: []string{`payment_id: ".." is a dot segment`}, schemaAccepts: dotSegments},
		{name: "payment_id of spaces", body: withID("   "),
			wantErr: []string{"payment_id: is only white space"}, schemaAccepts: blankIDs},
		{name: "payment_id of a no-break space", body: withID(`\u00a0`),
			wantErr: []string{"payment_id: is only white space"}, schemaAccepts: blankIDs},

		// max_age.
		{name: "negative max_age", body: `{"provider":"coinbar","payment_id":"p","max_age":"-5s"}`,
			wantErr: []string{`max_age: must not be negative, got "-5s"`}},
		{name: "signed max_age", body: `{"provider":"coinbar","payment_id":"p","max_age":"+5s"}`,
			wantErr: []string{"max_age: must be written without a sign"}},
		{name: "unparseable max_age", body: `{"provider":"coinbar","payment_id":"p","max_age":"5 minutes"}`,
			wantErr: []string{`max_age: "5 minutes" is not a duration`}},
		{name: "max_age in days", body: `{"provider":"coinbar","payment_id":"p","max_age":"1d"}`,
			wantErr: []string{`max_age: "1d" is not a duration`}},
		{name: "empty max_age", body: `{"provider":"coinbar","payment_id":"p","max_age":""}`,
			wantErr: []string{`max_age: "" is not a duration`}},
		{name: "huge max_age text", body: `{"provider":"coinbar","payment_id":"p","max_age":"` + strings.Repeat("9", 3000) + `"}`,
			wantErr: []string{`max_age: "9999`, `…" is not a duration`}},
		{name: "max_age over 30 days", body: `{"provider":"coinbar","payment_id":"p","max_age":"720h1s"}`,
			wantErr: []string{`max_age: must be at most 720h0m0s, got "720h1s"`}, schemaAccepts: maxAgeRange},
		{name: "max_age overflowing a Duration", body: `{"provider":"coinbar","payment_id":"p","max_age":"9999999999h"}`,
			wantErr: []string{`max_age: "9999999999h" is not a duration`}, schemaAccepts: maxAgeRange},

		// Broken CloudEvents.
		{name: "structured missing id", header: structuredMode(),
			body:    `{"specversion":"1.0","source":"urn:x","type":"t","data":` + withID("p") + `}`,
			wantErr: []string{"CloudEvent: id is required"}},
		{name: "structured missing source", header: structuredMode(),
			body:    `{"specversion":"1.0","id":"1","type":"t","data":` + withID("p") + `}`,
			wantErr: []string{"CloudEvent: source is required"}},
		{name: "structured missing type", header: structuredMode(),
			body:    `{"specversion":"1.0","id":"1","source":"urn:x","data":` + withID("p") + `}`,
			wantErr: []string{"CloudEvent: type is required"}},
		{name: "structured missing specversion", header: structuredMode(),
			body:    `{"id":"1","source":"urn:x","type":"t","data":` + withID("p") + `}`,
			wantErr: []string{"CloudEvent: specversion is required"}},
		{name: "structured wrong specversion", header: structuredMode(),
			body:    `{"specversion":"0.3","id":"1","source":"urn:x","type":"t","data":` + withID("p") + `}`,
			wantErr: []string{`CloudEvent: specversion must be "1.0", got "0.3"`}},
		{name: "structured id not a string", header: structuredMode(),
			body:    `{"specversion":"1.0","id":1,"source":"urn:x","type":"t","data":` + withID("p") + `}`,
			wantErr: []string{"CloudEvent: id: want a string, got number"}},
		{name: "structured data a string", header: structuredMode(), body: event(`"data":"{}"`),
			wantErr: []string{"CloudEvent: data must be a JSON object, got string"}},
		{name: "structured data an array", header: structuredMode(), body: event(`"data":[]`),
			wantErr: []string{"CloudEvent: data must be a JSON object, got array"}},
		{name: "structured without data", header: structuredMode(), body: event(`"data":null`),
			wantErr: []string{"CloudEvent: has no data"}},
		{name: "structured with both data kinds", header: structuredMode(),
			body:    event(`"data":` + withID("p") + `,"data_base64":"e30="`),
			wantErr: []string{"CloudEvent: has both data and data_base64"}},
		{name: "structured bad base64", header: structuredMode(), body: event(`"data_base64":"not base64!"`),
			wantErr: []string{"CloudEvent: data_base64 is not base64"}},
		{name: "structured base64 of not JSON", header: structuredMode(),
			body:    event(`"data_base64":"` + base64.StdEncoding.EncodeToString([]byte("hello")) + `"`),
			wantErr: []string{"not JSON", "invalid character 'h'"}},
		{name: "structured non-JSON datacontenttype", header: structuredMode(),
			body:    event(`"datacontenttype":"text/plain","data":` + withID("p")),
			wantErr: []string{`CloudEvent: datacontenttype "text/plain" is not JSON`}},
		{name: "structured duplicate attribute", header: structuredMode(),
			body:    event(`"id":"again","data":` + withID("p")),
			wantErr: []string{`CloudEvent: duplicate attribute "id"`}},
		{name: "structured body not an object", header: structuredMode(), body: `[]`,
			wantErr: []string{"CloudEvent: structured event: body is not a JSON object, got array"}},
		{name: "structured body not JSON", header: structuredMode(), body: event(`"data":{"provider":}`),
			wantErr: []string{"not JSON", "invalid character '}'"}},
		// CloudEvents has no object or array extension values, so no
		// extension nests at all.
		{name: "structured extension nested too deep", header: structuredMode(),
			body:    event(`"ext":` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + `,"data":` + withID("p")),
			wantErr: []string{`CloudEvent: extension "ext": want a string, an integer or a boolean, got array`}},
		{name: "structured object extension", header: structuredMode(),
			body:    event(`"ext":{"a":[1,-2.5e3,true,null,"s"]},"data":` + withID("p")),
			wantErr: []string{`CloudEvent: extension "ext": want a string, an integer or a boolean, got object`}},
		{name: "structured data nested deep", header: structuredMode(),
			body:    event(`"data":` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000)),
			wantErr: []string{"CloudEvent: data must be a JSON object, got array"}},
		{name: "structured, another event format", header: nats.Header{"Content-Type": {"application/cloudevents+xml"}},
			body: withID("p"), wantErr: []string{`CloudEvent: unsupported event format "application/cloudevents+xml"`}},
		{name: "structured duplicate data", header: structuredMode(),
			body:    event(`"data":` + withID("p") + `,"data":` + withID("q")),
			wantErr: []string{`CloudEvent: duplicate attribute "data"`}},
		{name: "structured data_base64 a number", header: structuredMode(), body: event(`"data_base64":1`),
			wantErr: []string{"CloudEvent: data_base64: want a string, got number"}},
		{name: "structured invalid request inside", header: structuredMode(),
			body:    event(`"data":{"provider":"coinbar","payment_id":"p","amount":1}`),
			wantErr: []string{`unknown field "amount"`}},
		{name: "binary missing ce-id", header: binaryMode("ce-id", ""), body: withID("p"),
			wantErr: []string{"CloudEvent: id is required"}},
		{name: "binary missing ce-source", header: binaryMode("ce-source", ""), body: withID("p"),
			wantErr: []string{"CloudEvent: source is required"}},
		{name: "binary missing ce-type", header: binaryMode("ce-type", ""), body: withID("p"),
			wantErr: []string{"CloudEvent: type is required"}},
		{name: "binary wrong specversion", header: binaryMode("ce-specversion", "0.3"), body: withID("p"),
			wantErr: []string{`CloudEvent: specversion must be "1.0", got "0.3"`}},
		// Header values are percent-decoded before anything else, and must
		// then be UTF-8.
		{name: "binary long binary specversion", header: binaryMode("ce-specversion", strings.Repeat("\xe8", 100)), body: withID("p"),
			wantErr: []string{"CloudEvent: ce-specversion header: not valid UTF-8"}},
		{name: "binary long specversion", header: binaryMode("ce-specversion", strings.Repeat("9", 100)), body: withID("p"),
			wantErr: []string{`CloudEvent: specversion must be "1.0", got "9999`, `…"`}},
		{name: "binary malformed percent-encoding", header: binaryMode("ce-source", "urn:%zz"), body: withID("p"),
			wantErr: []string{`CloudEvent: ce-source header: malformed percent-encoding "%zz" at byte 4`}},
		{name: "binary non-JSON datacontenttype", header: binaryMode("ce-datacontenttype", "text/plain"), body: withID("p"),
			wantErr: []string{`CloudEvent: datacontenttype "text/plain" is not JSON`}},
		{name: "binary non-JSON content-type", header: binaryMode("content-type", "application/xml"), body: withID("p"),
			wantErr: []string{`CloudEvent: datacontenttype "application/xml" is not JSON`}},
		{name: "binary without ce-specversion", header: binaryMode("ce-specversion", ""), body: withID("p"),
			wantErr: []string{"CloudEvent: specversion is required (missing ce-specversion header)"}},
		{name: "binary bad time", header: binaryMode("ce-time", "yesterday"), body: withID("p"),
			wantErr: []string{`CloudEvent: ce-time header: parsing time "yesterday"`}},
		{name: "binary empty body", header: binaryMode(), body: "", wantErr: []string{"CloudEvent: has no data"}},
		{name: "binary body not an object", header: binaryMode(), body: "[]", wantErr: []string{"CloudEvent: data must be a JSON object, got array"}},
		{name: "binary invalid body", header: binaryMode(), body: `{"provider":"coinbar"}`,
			wantErr: []string{"payment_id: is required"}},
	}
}

func TestDecodeCheckRequest(t *testing.T) {
	for _, c := range checkRequestCases() {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeCheckRequest(c.header, []byte(c.body))
			if c.wantErr == nil {
				if err != nil {
					t.Fatalf("DecodeCheckRequest: %v", err)
				}
				if got != c.want {
					t.Fatalf("got %+v, want %+v", got, c.want)
				}
				return
			}
			assertInvalidRequest(t, err, c.wantErr...)
			if got != (CheckRequest{}) {
				t.Errorf("an error came with a request: %+v", got)
			}
		})
	}
}

// assertInvalidRequest checks err is an invalid_request whose message holds
// each of parts and is short enough never to echo a large input.
func assertInvalidRequest(t *testing.T, err error, parts ...string) {
	t.Helper()
	var perr *paybridge.Error
	if !errors.As(err, &perr) {
		t.Fatalf("error %v (%T) is not a *paybridge.Error", err, err)
	}
	if perr.Code != paybridge.CodeInvalidRequest {
		t.Fatalf("code %q, want %q (%v)", perr.Code, paybridge.CodeInvalidRequest, err)
	}
	for _, p := range parts {
		if !strings.Contains(perr.Message, p) {
			t.Errorf("message %q does not contain %q", perr.Message, p)
		}
	}
	if len(perr.Message) > 200 {
		t.Errorf("message is %d bytes long: %q", len(perr.Message), perr.Message)
	}
}

func TestDecodeStatusRequest(t *testing.T) {
	for _, c := range []struct {
		name    string
		header  nats.Header
		body    string
		want    StatusRequest
		wantErr string
	}{
		{name: "minimal", body: withID("pay_1"), want: StatusRequest{Provider: "coinbar", PaymentID: "pay_1"}},
		{name: "hostile id", body: withID("a.b.*>"), want: StatusRequest{Provider: "coinbar", PaymentID: "a.b.*>"}},
		{name: "binary CloudEvent", header: binaryMode(), body: withID("pay_1"),
			want: StatusRequest{Provider: "coinbar", PaymentID: "pay_1"}},
		{name: "structured CloudEvent", header: structuredMode(), body: event(`"data":` + withID("pay_1")),
			want: StatusRequest{Provider: "coinbar", PaymentID: "pay_1"}},
		{name: "check-only field", body: `{"provider":"coinbar","payment_id":"p","max_age":"1s"}`, wantErr: `unknown field "max_age"`},
		{name: "watch", body: `{"provider":"coinbar","payment_id":"p","watch":true}`, wantErr: `unknown field "watch"`},
		{name: "missing payment_id", body: `{"provider":"coinbar"}`, wantErr: "payment_id: is required"},
		{name: "dot dot", body: withID(".."), wantErr: "dot segment"},
		{name: "too large", body: padded(withID("p"), MaxRequestBytes+1), wantErr: "the limit is 65536"},
		{name: "broken CloudEvent", header: binaryMode("ce-id", ""), body: withID("p"), wantErr: "CloudEvent: id is required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeStatusRequest(c.header, []byte(c.body))
			if c.wantErr != "" {
				assertInvalidRequest(t, err, c.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("DecodeStatusRequest: %v", err)
			}
			if got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

// TestDecodeCheckRequestMatchesSchema holds the decoder to the published
// schema: what it accepts, the schema accepts; what the schema refuses, it
// refuses; and where only the decoder refuses, the case says why.
func TestDecodeCheckRequestMatchesSchema(t *testing.T) {
	for _, c := range checkRequestCases() {
		t.Run(c.name, func(t *testing.T) {
			if c.wantErr == nil {
				data, _, err := requestBody(c.header, []byte(c.body))
				if err != nil {
					t.Fatalf("requestBody: %v", err)
				}
				if err := schemaAcceptsDecoded(schemas.CheckRequest, data); err != nil {
					t.Fatalf("the decoder accepts what the schema refuses: %v", err)
				}
				return
			}
			if c.header != nil {
				return // a broken envelope, not a schema matter
			}
			err := schemas.Validate(schemas.CheckRequest, []byte(c.body))
			switch {
			case c.schemaAccepts == "" && err == nil:
				t.Fatal("the schema accepts a request the decoder refuses; say why in schemaAccepts or tighten the schema")
			case c.schemaAccepts != "" && err != nil:
				t.Fatalf("the schema refuses it too (%v): drop schemaAccepts %q", err, c.schemaAccepts)
			}
		})
	}
}

func BenchmarkDecodeCheckRequest(b *testing.B) {
	body := []byte(`{"provider":"coinbar","payment_id":"pay_01HZX3","max_age":"30s","request_id":"r-1"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeCheckRequest(nil, body); err != nil {
			b.Fatal(err)
		}
	}
}
