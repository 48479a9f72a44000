package schemas_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/schemas"
)

func TestEveryFileIsListedAndIdentified(t *testing.T) {
	files, err := fs.Glob(schemas.FS, "*.json")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	names := slices.Sorted(slices.Values(schemas.Names))
	if !slices.Equal(files, names) {
		t.Fatalf("embedded schema files %v, Names %v", files, names)
	}
	for _, name := range schemas.Names {
		var head struct {
			Schema string `json:"$schema"`
			ID     string `json:"$id"`
		}
		b, _ := schemas.FS.ReadFile(name)
		if err := json.Unmarshal(b, &head); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if head.Schema != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s: $schema %q, want draft 2020-12", name, head.Schema)
		}
		if head.ID != "https://paybridge.dev/schemas/"+name || head.ID != schemas.ID(name) {
			t.Errorf("%s: $id %q", name, head.ID)
		}
	}
	if schemas.StatusChangedID != "https://paybridge.dev/schemas/status-changed.json" {
		t.Errorf("StatusChangedID = %q", schemas.StatusChangedID)
	}
}

func TestEverySchemaCompiles(t *testing.T) {
	for _, name := range schemas.Names {
		// Validating anything compiles every schema; a compile failure is
		// not a *ValidationError.
		err := schemas.Validate(name, []byte(`{}`))
		var ve *schemas.ValidationError
		if err != nil && !errors.As(err, &ve) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// The enums in the schemas are the domain's lists, so neither can grow alone.
func TestEnumsMatchTheDomain(t *testing.T) {
	var all, stored []string
	for _, s := range paybridge.Statuses {
		all = append(all, string(s))
		if s != paybridge.StatusUnknown {
			stored = append(stored, string(s))
		}
	}
	var codes []string
	for _, c := range paybridge.Codes {
		codes = append(codes, string(c))
	}
	checks := []struct {
		name, pointer string
		want          []string
	}{
		{schemas.CheckReply, "$defs.status.enum", all},
		{schemas.CheckReply, "$defs.error.properties.error.properties.code.enum", codes},
		{schemas.StatusRecord, "$defs.status.enum", stored},
		{schemas.StatusChanged, "$defs.status.enum", stored},
	}
	for _, c := range checks {
		var doc any
		b, _ := schemas.FS.ReadFile(c.name)
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		for _, key := range strings.Split(c.pointer, ".") {
			doc = doc.(map[string]any)[key]
		}
		var got []string
		for _, v := range doc.([]any) {
			got = append(got, v.(string))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s %s = %v, want %v", c.name, c.pointer, got, c.want)
		}
	}
}

type example struct {
	name  string
	doc   string
	where string // "" = valid; else the location the error must name, "(document)" for the root
}

func runExamples(t *testing.T, schema string, examples []example) {
	t.Helper()
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			err := schemas.Validate(schema, []byte(ex.doc))
			if ex.where == "" {
				if err != nil {
					t.Fatalf("valid document rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("invalid document accepted: %s", ex.doc)
			}
			var ve *schemas.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v is not a *ValidationError", err)
			}
			if ve.Schema != schema || !strings.HasPrefix(err.Error(), schema+": ") {
				t.Errorf("error %q does not name schema %s", err, schema)
			}
			want := strings.TrimPrefix(ex.where, "(document)")
			if !slices.ContainsFunc(ve.Problems, func(p schemas.Problem) bool { return p.Location == want }) {
				t.Errorf("error %q does not name location %q", err, ex.where)
			}
		})
	}
}

func TestCheckRequest(t *testing.T) {
	runExamples(t, schemas.CheckRequest, []example{
		{"minimal", `{"provider":"coinbar","payment_id":"abc"}`, ""},
		{"full", `{"provider":"muvinai","payment_id":"pay ü€ \"x\" %41 / a.b.*>","max_age":"1m30s","watch":true,"request_id":"r-1"}`, ""},
		{"unknown provider is not a schema error", `{"provider":"nosuch","payment_id":"a"}`, ""},
		{"payment id of 256 characters", `{"provider":"coinbar","payment_id":"` + strings.Repeat("x", 256) + `"}`, ""},
		{"missing provider", `{"payment_id":"a"}`, "(document)"},
		{"missing payment id", `{"provider":"coinbar"}`, "(document)"},
		{"unknown field", `{"provider":"coinbar","payment_id":"a","paymentid":"b"}`, "(document)"},
		{"empty provider", `{"provider":"","payment_id":"a"}`, "/provider"},
		{"long provider", `{"provider":"` + strings.Repeat("p", 65) + `","payment_id":"a"}`, "/provider"},
		{"provider not a string", `{"provider":1,"payment_id":"a"}`, "/provider"},
		{"empty payment id", `{"provider":"coinbar","payment_id":""}`, "/payment_id"},
		{"payment id too long", `{"provider":"coinbar","payment_id":"` + strings.Repeat("x", 257) + `"}`, "/payment_id"},
		{"payment id with NUL", `{"provider":"coinbar","payment_id":"a\u0000b"}`, "/payment_id"},
		{"payment id with newline", `{"provider":"coinbar","payment_id":"a\nb"}`, "/payment_id"},
		{"payment id with DEL", `{"provider":"coinbar","payment_id":"a\u007fb"}`, "/payment_id"},
		{"payment id with C1 NEL", `{"provider":"coinbar","payment_id":"a\u0085b"}`, "/payment_id"},
		{"watch not a bool", `{"provider":"coinbar","payment_id":"a","watch":"yes"}`, "/watch"},
		{"request id too long", `{"provider":"coinbar","payment_id":"a","request_id":"` + strings.Repeat("r", 129) + `"}`, "/request_id"},
		{"not an object", `["coinbar","a"]`, "(document)"},
	})
}

// max_age follows time.ParseDuration without a sign: every accepted value
// parses, and the rejected ones are not positive durations.
func TestCheckRequestMaxAge(t *testing.T) {
	for _, d := range []string{"0", "0s", "30s", "1m30s", "1.5h", ".5s", "1.s", "100ms", "10us", "10µs", "10μs", "5ns", "2h45m0.5s"} {
		doc := `{"provider":"coinbar","payment_id":"a","max_age":"` + d + `"}`
		if err := schemas.Validate(schemas.CheckRequest, []byte(doc)); err != nil {
			t.Errorf("max_age %q rejected: %v", d, err)
		}
		if _, err := time.ParseDuration(d); err != nil {
			t.Errorf("schema accepts %q but time.ParseDuration does not: %v", d, err)
		}
	}
	for _, d := range []string{"", "1", "-1s", "+1s", "1d", "s", "1 s", "1S", "abc", "1h-1m", "."} {
		doc := `{"provider":"coinbar","payment_id":"a","max_age":"` + d + `"}`
		err := schemas.Validate(schemas.CheckRequest, []byte(doc))
		if err == nil || !strings.Contains(err.Error(), "/max_age") {
			t.Errorf("max_age %q: got %v, want an error at /max_age", d, err)
		}
	}
}

func TestStatusRequest(t *testing.T) {
	runExamples(t, schemas.StatusRequest, []example{
		{"valid", `{"provider":"coinbar","payment_id":"abc"}`, ""},
		{"missing payment id", `{"provider":"coinbar"}`, "(document)"},
		{"unknown field", `{"provider":"coinbar","payment_id":"a","watch":true}`, "(document)"},
		{"control character", `{"provider":"coinbar","payment_id":"a\tb"}`, "/payment_id"},
	})
}

const successReply = `{
	"provider":"coinbar","payment_id":"p1","request_id":"r1",
	"status":"paid","previous_status":"pending","changed":true,"terminal":true,
	"provider_status":"COMPLETED","provider_status_detail":"",
	"amount":"12.50","currency":"EUR","amount_paid":"12.50",
	"crypto_amount":"0.00045145423250897323","crypto_currency":"BTC",
	"provider_updated_at":"2025-01-02T03:04:05.123456789Z","checked_at":"2025-01-02T03:04:06Z",
	"revision":7,"event_id":"ev-1","source":"provider","stale":false,"watching":false}`

// withField returns the JSON object doc with key set to the raw JSON value,
// or removed when value is "".
func withField(t *testing.T, doc, key, value string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	if value == "" {
		delete(m, key)
	} else {
		m[key] = json.RawMessage(value)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCheckReply(t *testing.T) {
	minimal := `{"provider":"muvinai","payment_id":"p","status":"unknown","previous_status":null,"changed":false,"terminal":false,
		"provider_status":"weird","checked_at":"2025-01-02T03:04:05+01:00","revision":0,"source":"store","stale":false,"watching":true}`
	runExamples(t, schemas.CheckReply, []example{
		{"success with every field", successReply, ""},
		{"minimal success, first sight", minimal, ""},
		{"error", `{"error":{"code":"provider_rate_limited","message":"Api RATE exceeded","retryable":true},"provider":"coinbar","payment_id":"p1","request_id":"r1"}`, ""},
		{"error alone", `{"error":{"code":"invalid_request","message":"not JSON","retryable":false}}`, ""},
		{"amount as a JSON number", withField(t, successReply, "amount", `0.00045145423250897323`), "/amount"},
		{"amount not a decimal", withField(t, successReply, "amount_paid", `"1,5"`), "/amount_paid"},
		{"previous_status missing", withField(t, successReply, "previous_status", ""), "(document)"},
		{"unknown field", withField(t, successReply, "note", `"x"`), "(document)"},
		{"unknown status", withField(t, successReply, "status", `"settled"`), "/status"},
		{"negative revision", withField(t, successReply, "revision", `-1`), "/revision"},
		{"fractional revision", withField(t, successReply, "revision", `1.5`), "/revision"},
		{"bad checked_at", withField(t, successReply, "checked_at", `"yesterday"`), "/checked_at"},
		{"bad source", withField(t, successReply, "source", `"cache"`), "/source"},
		{"unknown error code", `{"error":{"code":"teapot","message":"x","retryable":false}}`, "/error/code"},
		{"error without retryable", `{"error":{"code":"internal","message":"x"}}`, "/error"},
		{"error with unknown field", `{"error":{"code":"internal","message":"x","retryable":false},"status":"paid"}`, "(document)"},
	})
}

func TestStatusRecord(t *testing.T) {
	record := `{"provider":"coinbar","payment_id":"p1","status":"paid","previous_status":null,"terminal":true,
		"provider_status":"COMPLETED","amount":"0.00045145423250897323","currency":"BTC",
		"observed_at":"2025-01-02T03:04:05Z","revision":0,"event_id":"ev-1","published":false}`
	runExamples(t, schemas.StatusRecord, []example{
		{"unpublished first record", record, ""},
		{"published", withField(t, record, "published", `true`), ""},
		{"unknown is never stored", withField(t, record, "status", `"unknown"`), "/status"},
		{"published missing", withField(t, record, "published", ""), "(document)"},
		{"event id missing", withField(t, record, "event_id", ""), "(document)"},
		{"previous_status missing", withField(t, record, "previous_status", ""), "(document)"},
		{"amount as a JSON number", withField(t, record, "amount", `12.5`), "/amount"},
		{"reply-only field", withField(t, record, "source", `"store"`), "(document)"},
	})
}

func TestStatusChanged(t *testing.T) {
	data := `{"provider":"coinbar","payment_id":"p1","status":"refunded","previous_status":"paid","terminal":true,
		"provider_status":"REFUNDED","provider_status_detail":"",
		"amount":"10","currency":"EUR","amount_paid":"10","crypto_amount":"1e-7","crypto_currency":"BTC",
		"provider_updated_at":"2025-01-02T03:04:05Z","observed_at":"2025-01-02T03:04:06.5Z","revision":3}`
	runExamples(t, schemas.StatusChanged, []example{
		{"every field", data, ""},
		{"first sight", withField(t, data, "previous_status", `null`), ""},
		{"previous_status missing", withField(t, data, "previous_status", ""), "(document)"},
		{"observed_at missing", withField(t, data, "observed_at", ""), "(document)"},
		{"unknown field", withField(t, data, "changed", `true`), "(document)"},
		{"amount as a JSON number", withField(t, data, "amount", `10`), "/amount"},
		{"unknown is never published", withField(t, data, "status", `"unknown"`), "/status"},
		{"bad time", withField(t, data, "observed_at", `"2025-13-01T00:00:00Z"`), "/observed_at"},
	})
}

func TestValidateErrors(t *testing.T) {
	err := schemas.Validate("nope.json", []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), `unknown schema "nope.json"`) {
		t.Errorf("unknown schema: got %v", err)
	}
	for _, doc := range []string{``, `{`, `{} {}`, `nul`} {
		err := schemas.Validate(schemas.CheckRequest, []byte(doc))
		if err == nil || !strings.Contains(err.Error(), "check-request.json: not JSON") {
			t.Errorf("document %q: got %v, want a not-JSON error", doc, err)
		}
	}
	// Several problems are all named, in location order.
	err = schemas.Validate(schemas.CheckRequest, []byte(`{"provider":"","payment_id":"","watch":1}`))
	want := "check-request.json: /payment_id: "
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "; /provider: ") || !strings.Contains(err.Error(), "; /watch: ") {
		t.Errorf("got %v, want problems at /payment_id, /provider and /watch", err)
	}
}

// A reply that fails as a success reply is told about its own fields, not
// about everything an error reply would need.
func TestValidateNamesTheClosestAlternative(t *testing.T) {
	cases := []struct{ doc, want, notWant string }{
		{withField(t, successReply, "previous_status", ""), "missing property 'previous_status'", "'error'"},
		{withField(t, withField(t, successReply, "amount", "1.5"), "previous_status", `"nah"`), "/amount: ", "'error'"},
		{`{"error":{"code":"internal","message":"x","retryable":false},"status":"paid"}`, "'status' not allowed", "'provider'"},
	}
	for _, c := range cases {
		err := schemas.Validate(schemas.CheckReply, []byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), c.notWant) {
			t.Errorf("got %v, want it to contain %q and not %q", err, c.want, c.notWant)
		}
	}
}

// The AsyncAPI document points at the schema files that exist, and at all of them.
func TestAsyncAPIReferencesEverySchema(t *testing.T) {
	b, err := schemas.FS.ReadFile(schemas.AsyncAPI)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	if !strings.HasPrefix(doc, "asyncapi: 3.0.0\n") {
		t.Fatalf("asyncapi.yaml does not start with asyncapi: 3.0.0")
	}
	refs := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$ref: '\./([^']+)'`).FindAllStringSubmatch(doc, -1) {
		refs[m[1]] = true
	}
	for ref := range refs {
		if !slices.Contains(schemas.Names, ref) {
			t.Errorf("asyncapi.yaml refers to %s, which is not an embedded schema", ref)
		}
	}
	for _, name := range schemas.Names {
		if name != schemas.StatusRecord && !refs[name] { // the KV record is not a message
			t.Errorf("asyncapi.yaml does not refer to %s", name)
		}
	}
	for _, subject := range []string{"payments.check", "payments.check.queued", "payments.status.get", "payments.status.changed", "payments.watch.expired"} {
		if !strings.Contains(doc, "address: "+subject+"\n") {
			t.Errorf("asyncapi.yaml has no channel for %s", subject)
		}
	}
	for _, local := range regexp.MustCompile(`\$ref: '#/([^']+)'`).FindAllStringSubmatch(doc, -1) {
		// Each local reference names a key defined in the document.
		last := local[1][strings.LastIndex(local[1], "/")+1:]
		if !regexp.MustCompile(`\n +` + regexp.QuoteMeta(last) + `:\n`).MatchString(doc) {
			t.Errorf("asyncapi.yaml: $ref '#/%s' does not resolve", local[1])
		}
	}
}
