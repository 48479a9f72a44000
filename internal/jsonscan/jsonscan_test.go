package jsonscan

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// skipAll skips the one value data must hold.
func skipAll(s *Scanner) error {
	if _, err := s.Skip(); err != nil {
		return err
	}
	return s.End()
}

// FuzzSkip: the scanner accepts exactly the texts encoding/json calls
// valid (but for a lone surrogate, which the strict one refuses), skips a
// value to its end, and refuses every other text with an Error that is
// short and names a byte within the text.
func FuzzSkip(f *testing.F) {
	for _, seed := range []string{
		`{}`, `[]`, `{"a":[1,-2.5e+3,true,false,null,{"b":"c\u00e9\ud83d\ude00"}]}`, `"\ud800"`, "\"\xff\"",
		`01`, `1.`, `-`, `1e`, `[1,]`, `{"a"}`, `{"a":1,}`, `[[[[`, `]`, ` 5 `, `nul`, `"\u12"`, `"\q"`, "\"\x01\"",
		`{"a":1} x`, `tru`, `{"a" 1}`, `[1 2]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, s := range []Scanner{New(data), NewLenient(data)} {
			raw, err := s.Skip()
			if err == nil {
				err = s.End()
			}
			var e *Error
			if errors.As(err, &e) && !e.Syntax && !s.lenient && strings.Contains(e.Msg, "lone UTF-16 surrogate") {
				continue
			}
			if valid := json.Valid(data); valid != (err == nil) {
				t.Fatalf("%q: json.Valid %v, scanner: %v", data, valid, err)
			}
			if err == nil {
				if want := strings.TrimSpace(string(data)); string(raw) != want {
					t.Fatalf("%q: skipped %q", data, raw)
				}
				continue
			}
			if !errors.As(err, &e) || !e.Syntax || len(e.Error()) > 100 || e.Offset < 0 || e.Offset > len(data) {
				t.Fatalf("%q: error %#v", data, err)
			}
		}
	})
}

// FuzzLenientString: a lenient scanner reads a string as encoding/json
// does, replacements for lone surrogates and bytes that are not UTF-8
// included; a strict one reads it the same unless it refuses a lone
// surrogate, and keeps bytes that are not UTF-8.
func FuzzLenientString(f *testing.F) {
	for _, seed := range []string{
		`"plain"`, `"\ud800"`, `"\ud800\u0041"`, `"\udc00\ud800"`, `"\ud800\udc00"`, `"\ud83d\ude00x"`, "\"a\xffb\"",
		"\"\xed\xa0\x80\"", "\"\xe2\x82\"", `"\n\t\\\/\"\b\f\r"`, "\"\xe2\\u0041\"", `"\u00e9\ud800\ud800\udc00"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want string
		jsonErr := json.Unmarshal(data, &want)
		lenient := NewLenient(data)
		got, err := lenient.String()
		if err == nil {
			err = lenient.End()
		}
		if (err == nil) != (jsonErr == nil) {
			t.Fatalf("%q: encoding/json %v, lenient scanner %v", data, jsonErr, err)
		}
		if err != nil {
			return
		}
		if string(got) != want {
			t.Fatalf("%q: lenient %q, encoding/json %q", data, got, want)
		}
		strict := New(data)
		got, err = strict.String()
		var e *Error
		switch {
		case err != nil && errors.As(err, &e) && !e.Syntax && strings.Contains(e.Msg, "lone UTF-16 surrogate"):
		case err != nil:
			t.Fatalf("%q: strict scanner %v", data, err)
		case utf8.Valid(got) && string(got) != want:
			t.Fatalf("%q: strict %q, encoding/json %q", data, got, want)
		}
	})
}

func TestDepthIsEncodingJSONs(t *testing.T) {
	for _, open := range []string{"[", `{"a":`} {
		close := map[string]string{"[": "]", `{"a":`: "}"}[open]
		deep := func(n int) []byte {
			return []byte(strings.Repeat(open, n) + "1" + strings.Repeat(close, n))
		}
		s := New(deep(MaxDepth))
		if err := skipAll(&s); err != nil || !json.Valid(deep(MaxDepth)) {
			t.Errorf("%s × %d: %v, json.Valid %v", open, MaxDepth, err, json.Valid(deep(MaxDepth)))
		}
		s = New(deep(MaxDepth + 1))
		err := skipAll(&s)
		if err == nil || json.Valid(deep(MaxDepth+1)) {
			t.Fatalf("%s × %d: %v, json.Valid %v", open, MaxDepth+1, err, json.Valid(deep(MaxDepth+1)))
		}
		if want := "more than 10000 nested objects and arrays at byte "; !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// A megabyte of brackets is refused at the first one too many.
	s := New([]byte(strings.Repeat("[", 1<<20)))
	if err := skipAll(&s); err == nil || s.Offset() != MaxDepth {
		t.Fatalf("1 MiB of [: %v at byte %d", err, s.Offset())
	}
}

// The depth counts the objects Object walks as well as those Skip passes.
func TestDepthAcrossObjectAndSkip(t *testing.T) {
	s := New([]byte(`{"a":` + strings.Repeat("[", MaxDepth-1) + strings.Repeat("]", MaxDepth-1) + `}`))
	err := s.Object(func([]byte) error { _, err := s.Skip(); return err })
	if err != nil {
		t.Fatalf("an object holding %d arrays: %v", MaxDepth-1, err)
	}
	s = New([]byte(`{"a":` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + `}`))
	if err := s.Object(func([]byte) error { _, err := s.Skip(); return err }); err == nil {
		t.Fatalf("an object holding %d arrays accepted", MaxDepth)
	}
}

func TestSyntaxErrorsSayWhere(t *testing.T) {
	cases := map[string]string{
		``:             "not JSON: unexpected end of input",
		`{"a":1,}`:     "not JSON: invalid character '}' at byte 7",
		"[1,\xff]":     "not JSON: invalid byte 0xff at byte 3",
		`[01]`:         "not JSON: invalid character '1' at byte 2",
		`[1.]`:         "not JSON: invalid character ']' at byte 3",
		`-`:            "not JSON: unexpected end of input",
		`["\q"]`:       `not JSON: invalid escape '\q' at byte 2`,
		`["\u12x4"]`:   `not JSON: invalid \u escape at byte 2`,
		"[\"\x01\"]":   "not JSON: unescaped control character U+0001 in a string at byte 2",
		`{"a":1} {}`:   "not JSON: data after the object at byte 8",
		`[] {}`:        "not JSON: data after the value at byte 3",
		`{"a" 1}`:      "not JSON: invalid character '1' at byte 5",
		`[true false]`: "not JSON: invalid character 'f' at byte 6",
	}
	for in, want := range cases {
		s := New([]byte(in))
		if err := skipAll(&s); err == nil || err.Error() != want {
			t.Errorf("%q: %v, want %s", in, err, want)
		}
	}
	s := New([]byte(`"\ud800"`))
	if _, err := s.String(); err == nil || err.Error() != `invalid string: lone UTF-16 surrogate \ud800 at byte 1` {
		t.Errorf("lone surrogate: %v", err)
	}
}

func TestNumberIsTheRawText(t *testing.T) {
	for _, in := range []string{`0`, `-0`, `0.00045145423250897323`, `1e-7`, `12E+30`, `123456789012345678901234`} {
		s := New([]byte(" " + in + " "))
		got, err := s.Number()
		if err != nil || string(got) != in || s.End() != nil {
			t.Errorf("%s: got %q, %v", in, got, err)
		}
	}
	for _, in := range []string{`+1`, `.5`, `1.`, `1e`, `1e+`, `-`, `x`, ``} {
		s := New([]byte(in))
		if got, err := s.Number(); err == nil {
			t.Errorf("%q: read %q", in, got)
		}
	}
}

func TestStringWithoutEscapesIsTheInput(t *testing.T) {
	data := []byte(`{"status":"PENDING"}`)
	s := NewLenient(data)
	var got []byte
	err := s.Object(func([]byte) error {
		var err error
		got, err = s.String()
		return err
	})
	if err != nil || string(got) != "PENDING" || &got[0] != &data[11] {
		t.Fatalf("got %q, %v; not a slice of the input", got, err)
	}
	if n := testing.AllocsPerRun(100, func() {
		s := NewLenient(data)
		s.Object(func([]byte) error { _, err := s.String(); return err })
	}); n != 0 {
		t.Errorf("walking an object without escapes allocates %.0f times", n)
	}
}

func TestKindNames(t *testing.T) {
	for in, want := range map[string]string{`{`: "object", `[`: "array", `"`: "string", `t`: "boolean", `f`: "boolean", `n`: "null", `-`: "number", `7`: "number", `x`: "", ``: ""} {
		s := New([]byte("  " + in))
		if got := s.Kind().String(); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
