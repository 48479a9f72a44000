package providers_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
)

var memberNames = []string{"status", "status_detail", "id", "last_modified", "kind"}

// FuzzMember: a key names a member as encoding/json's struct fields are
// named, which is bytes.EqualFold after an exact match.
func FuzzMember(f *testing.F) {
	for _, key := range []string{"status", "STATUS", "Status_Detail", "ſtatus", "\u212aind", "kınd", "İd", "id ", "statuſ_detail", "\xffid", ""} {
		f.Add([]byte(key))
	}
	f.Fuzz(func(t *testing.T, key []byte) {
		want := ""
		for _, name := range memberNames {
			if bytes.Equal(key, []byte(name)) {
				want = name
				break
			}
		}
		if want == "" {
			for _, name := range memberNames {
				if bytes.EqualFold(key, []byte(name)) {
					want = name
					break
				}
			}
		}
		if got := providers.Member(key, memberNames...); got != want {
			t.Fatalf("Member(%q) = %q, want %q", key, got, want)
		}
	})
}

func TestMemberFoldsAsEncodingJSON(t *testing.T) {
	cases := map[string]string{
		"status":         "status",
		"STATUS":         "status",
		"ſtatuſ":         "status",        // U+017F folds to s
		"\u212aind":      "kind",          // the Kelvin sign folds to k
		"status_detaiL":  "status_detail", // not the shorter status
		"statu":          "",
		"statuss":        "",
		"stat\u00fcs":    "",
		"\u0130d":        "", // İ is not I under simple folding
		"last-modified":  "",
		"\xffstatus":     "",
		"":               "",
		"status\x00":     "",
		"LAST_MODIFIED":  "last_modified",
		"lAsT_mOdIfIeD":  "last_modified",
		"last_modified ": "",
	}
	for key, want := range cases {
		if got := providers.Member([]byte(key), memberNames...); got != want {
			t.Errorf("Member(%q) = %q, want %q", key, got, want)
		}
		// encoding/json agrees.
		var v struct {
			Status       string `json:"status"`
			StatusDetail string `json:"status_detail"`
			ID           string `json:"id"`
			LastModified string `json:"last_modified"`
			Kind         string `json:"kind"`
		}
		body, _ := json.Marshal(map[string]string{key: "x"})
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		set := map[string]bool{"status": v.Status != "", "status_detail": v.StatusDetail != "", "id": v.ID != "", "last_modified": v.LastModified != "", "kind": v.Kind != ""}
		for name, ok := range set {
			if ok != (name == want) && !strings.ContainsRune(key, 0xfffd) && !strings.Contains(key, "\xff") {
				t.Errorf("%q: encoding/json sets %s: %v", key, name, ok)
			}
		}
	}
}

// decodeBody walks body for the status and amount members.
func decodeBody(body string) (status string, amount providers.RawAmount, err error) {
	d := providers.NewBodyDecoder("prov", []byte(body))
	var s []byte
	err = d.Walk(func(key []byte) error {
		switch providers.Member(key, "status", "amount") {
		case "status":
			return d.String("status", &s)
		case "amount":
			return d.Amount(&amount)
		}
		return d.Skip()
	})
	return string(s), amount, err
}

// The texts are DecodeJSON's, but for a syntax error's description.
func TestBodyDecoderSaysWhatWasWrong(t *testing.T) {
	cases := map[string]string{
		`[1, 2]`:                    "prov: the body is a JSON array, not an object",
		`"text"`:                    "prov: the body is a JSON string, not an object",
		`false`:                     "prov: the body is a JSON bool, not an object",
		`-1.5`:                      "prov: the body is a JSON number, not an object",
		`{"status": 5}`:             "prov: field status is a JSON number, want string",
		`{"status": {"a": [1]}}`:    "prov: field status is a JSON object, want string",
		`{"Status": true, "x": []}`: "prov: field status is a JSON bool, want string",
		`{"status": 5, "amount": }`: "prov: the body is not valid JSON: invalid character '}' at byte 24",
		`<html>`:                    "prov: the body is not valid JSON: invalid character '<' at byte 0",
		`{"status": "a"`:            "prov: the body is not valid JSON: unexpected end of input",
		`{"status": "a"} {}`:        "prov: the body is not valid JSON: data after the object at byte 16",
		`[1] 2`:                     "prov: the body is not valid JSON: data after the value at byte 4",
		"{\"status\": \"\x01\"}":    "prov: the body is not valid JSON: unescaped control character U+0001 in a string at byte 12",
		`{"status": "a", "x": 01}`:  "prov: the body is not valid JSON: invalid character '1' at byte 22",
		`{"x": [[[1]]}`:             "prov: the body is not valid JSON: invalid character '}' at byte 12",
		`{"x": "\q"}`:               "prov: the body is not valid JSON: invalid escape '\\q' at byte 7",
		"{\"x\": \"\\\r\"}":         "prov: the body is not valid JSON: invalid escape: a backslash, then byte 0x0d at byte 7",
	}
	for in, want := range cases {
		_, _, err := decodeBody(in)
		if err == nil || paybridge.ErrorCode(err) != paybridge.CodeProviderBadResponse || paybridge.ErrorMessage(err) != want {
			t.Errorf("%s: %v, want %s", in, err, want)
		}
		// DecodeJSON says the same, but for its own syntax words.
		var b struct {
			Status string `json:"status"`
		}
		old := paybridge.ErrorMessage(providers.DecodeJSON("prov", []byte(in), &b))
		const notJSON = "prov: the body is not valid JSON: "
		if strings.HasPrefix(want, notJSON) != strings.HasPrefix(old, notJSON) || (!strings.HasPrefix(old, notJSON) && old != want) {
			t.Errorf("%s: DecodeJSON says %q", in, old)
		}
	}
	for in, want := range map[string]string{
		`{"status": "paid", "other": 1}`:         "paid",
		`{"status": "a", "status": "b"}`:         "b",
		`{"status": "a", "status": null}`:        "a",
		`null`:                                   "",
		` {"STATUS": "pa\u0069d\ud800"} `:        "paid\ufffd",
		"{\"status\": \"p\xffd\", \"x\": {}}":    "p\ufffdd",
		`{"x": {"status": 5}, "status": "paid"}`: "paid",
	} {
		got, _, err := decodeBody(in)
		if err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", in, got, err, want)
		}
	}
}

// CheckAmount accepts and refuses what DecimalField does, in its words.
func TestCheckAmountIsDecimalField(t *testing.T) {
	for _, in := range []string{
		``, `null`, `0.00045145423250897323`, `"19913.425"`, `123456789012345678901234`, `1e-7`, `-0`, `"\u0031.5"`,
		`true`, `"abc"`, `"1.2.3"`, `{}`, `[]`, `"01"`, `"1."`, `".5"`, `"NaN"`, `"1e"`, "{\n\"a\":\r\n 1}", `"ab\ud800c"`,
		`0.` + strings.Repeat("4", 62), `0.` + strings.Repeat("4", 63), `"0.` + strings.Repeat("4", 63) + `"`,
		`"` + strings.Repeat("long words ", 10) + `"`, `[` + strings.Repeat(`"long words", `, 10) + `1]`,
	} {
		want, wantErr := providers.DecimalField("prov", "amount", json.RawMessage(in))
		body := `{"status": "x"}`
		if in != "" {
			body = `{"status": "x", "amount": ` + in + `}`
		}
		_, a, err := decodeBody(body)
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		err = providers.CheckAmount("prov", "amount", a)
		got := ""
		if err == nil {
			got = string(a.Text())
		}
		if got != want || paybridge.ErrorMessage(err) != paybridge.ErrorMessage(wantErr) {
			t.Errorf("%s: %q, %v; DecimalField %q, %v", in, got, err, want, wantErr)
		}
	}
}

func TestSetStringsCopiesOnce(t *testing.T) {
	body := []byte("PENDINGEUR8.99")
	var status, currency, amount, none string
	texts := []providers.Text{{&status, body[:7]}, {&none, nil}, {&currency, body[7:10]}, {&amount, body[10:]}}
	if n := testing.AllocsPerRun(10, func() { providers.SetStrings(texts...) }); n != 1 {
		t.Errorf("SetStrings allocates %.0f times, want once", n)
	}
	copy(body, "XXXXXXXXXXXXXX")
	if status != "PENDING" || currency != "EUR" || amount != "8.99" || none != "" {
		t.Fatalf("got %q %q %q %q: not copies of the body", status, currency, amount, none)
	}
}
