// The single-pass JSON scanner the request decoders walk a request object
// with (a request sent as a CloudEvent is unwrapped by events.ReadEnvelope
// first). It checks syntax as it goes; every problem is an invalid_request
// error giving the byte offset (or the member, for a value of the wrong
// type), so a broken or hostile request is refused without building values.

package bridge

import (
	"unicode/utf16"
	"unicode/utf8"

	"github.com/paybridge/paybridge"
)

// jsonScanner walks one JSON text without building values: a request is a
// small flat object, and walking it by hand is one pass with an allocation
// per string kept, several times faster than encoding/json (which also
// cannot report duplicate keys). It follows RFC 8259 strictly and also
// refuses lone UTF-16 surrogates, which encoding/json silently turns into
// U+FFFD.
//
// jsontext (github.com/go-json-experiment/json v1.27.2) gives the same
// strictness and was measured in its place, decoding the benchmark's
// request (BenchmarkDecodeCheckRequest's body, 2 vCPU, Go 1.26, benchstat of
// 10 runs): this scanner 308 ns ±1%, 32 B, 4 allocs; a jsontext.Decoder
// reused from a pool, reading the members with ReadValue, 533 ns ±8%
// (+73%), 32 B, 4 allocs; the same without its duplicate-name check 466 ns
// (+51%); a fresh jsontext.NewDecoder only validating the object, 640 ns,
// 576 B, 10 allocs. It loses on the hot path of every check, so this scanner
// stays. (That module also warns of regular breaking changes, and the
// request decoder is imported by other services.)
type jsonScanner struct {
	data []byte
	pos  int
}

func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, or 0 at the end.
func (s *jsonScanner) peek() byte {
	s.skipSpace()
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// syntaxError describes the byte at s.pos as unexpected.
func (s *jsonScanner) syntaxError() error {
	if s.pos >= len(s.data) {
		return invalidRequest("not JSON: unexpected end of input")
	}
	c := s.data[s.pos]
	if c > ' ' && c < utf8.RuneSelf {
		return invalidRequest("not JSON: invalid character '%c' at byte %d", c, s.pos)
	}
	return invalidRequest("not JSON: invalid byte 0x%02x at byte %d", c, s.pos)
}

// startObject checks that the text is an object, naming what it is if not.
func (s *jsonScanner) startObject(what string) error {
	switch kind := jsonKind(s.peek()); kind {
	case "object":
		return nil
	case "":
		return s.syntaxError()
	default:
		return invalidRequest("%s must be a JSON object, got %s", what, kind)
	}
}

// end checks that nothing but white space follows the value.
func (s *jsonScanner) end() error {
	if s.skipSpace(); s.pos < len(s.data) {
		return invalidRequest("not JSON: data after the object at byte %d", s.pos)
	}
	return nil
}

// jsonKind names the JSON type a value starting with c has, or "" when no
// value starts with c.
func jsonKind(c byte) string {
	switch {
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == '"':
		return "string"
	case c == 't' || c == 'f':
		return "boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "number"
	}
	return ""
}

// object walks the object starting at s.pos, calling member with each key
// and s at the value; member must consume the value.
func (s *jsonScanner) object(member func(key []byte) error) error {
	if s.peek() != '{' {
		return s.syntaxError()
	}
	s.pos++
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.syntaxError()
		}
		key, err := s.readString()
		if err != nil {
			return err
		}
		if s.peek() != ':' {
			return s.syntaxError()
		}
		s.pos++
		s.skipSpace()
		if err := member(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.syntaxError()
		}
	}
}

func (s *jsonScanner) literal(word string) error {
	for i := 0; i < len(word); i++ {
		if s.pos >= len(s.data) || s.data[s.pos] != word[i] {
			return s.syntaxError()
		}
		s.pos++
	}
	return nil
}

// null passes over a null value and reports whether there was one.
func (s *jsonScanner) null() (bool, error) {
	if s.peek() != 'n' {
		return false, nil
	}
	return true, s.literal("null")
}

// readBool reads the value of a boolean member called name.
func (s *jsonScanner) readBool(name string) (bool, error) {
	switch s.peek() {
	case 't':
		return true, s.literal("true")
	case 'f':
		return false, s.literal("false")
	}
	return false, s.wrongType(name, "a boolean")
}

// readStringValue reads the value of a string member called name; syntax
// errors inside the string name the member too.
func (s *jsonScanner) readStringValue(name string) ([]byte, error) {
	if s.peek() != '"' {
		return nil, s.wrongType(name, "a string")
	}
	b, err := s.readString()
	if err != nil {
		return nil, invalidRequest("%s: %s", name, paybridge.ErrorMessage(err))
	}
	return b, nil
}

func (s *jsonScanner) wrongType(name, want string) error {
	kind := jsonKind(s.peek())
	if kind == "" {
		return s.syntaxError()
	}
	return invalidRequest("%s: want %s, got %s", name, want, kind)
}

// readString reads the string starting at s.pos and returns its content,
// unescaped. Without escapes the content is a slice of the input.
func (s *jsonScanner) readString() ([]byte, error) {
	start := s.pos + 1
	for i := start; i < len(s.data); i++ {
		switch c := s.data[i]; {
		case c == '"':
			s.pos = i + 1
			return s.data[start:i], nil
		case c == '\\':
			return s.readEscapedString(start, i)
		case c < ' ':
			s.pos = i
			return nil, invalidRequest("not JSON: unescaped control character %U in a string at byte %d", rune(c), i)
		}
	}
	s.pos = len(s.data)
	return nil, s.syntaxError()
}

// readEscapedString finishes readString from the first backslash at i.
func (s *jsonScanner) readEscapedString(start, i int) ([]byte, error) {
	out := append(make([]byte, 0, i-start+16), s.data[start:i]...)
	for i < len(s.data) {
		c := s.data[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return out, nil
		case c < ' ':
			s.pos = i
			return nil, invalidRequest("not JSON: unescaped control character %U in a string at byte %d", rune(c), i)
		case c != '\\':
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(s.data) {
			break
		}
		switch e := s.data[i+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, n, err := s.unicodeEscape(i)
			if err != nil {
				return nil, err
			}
			out = utf8.AppendRune(out, r)
			i += n
			continue
		default:
			s.pos = i
			return nil, invalidRequest("not JSON: invalid escape '\\%c' at byte %d", e, i)
		}
		i += 2
	}
	s.pos = len(s.data)
	return nil, s.syntaxError()
}

// unicodeEscape decodes the \uXXXX escape at i, joining a surrogate pair,
// and returns the rune and the bytes it took.
func (s *jsonScanner) unicodeEscape(i int) (rune, int, error) {
	r, ok := hex4(s.data, i+2)
	switch {
	case !ok && i+6 > len(s.data):
		s.pos = len(s.data)
		return 0, 0, s.syntaxError()
	case !ok:
		s.pos = i
		return 0, 0, invalidRequest("not JSON: invalid \\u escape at byte %d", i)
	}
	if !utf16.IsSurrogate(r) {
		return r, 6, nil
	}
	if r < 0xdc00 && i+12 <= len(s.data) && s.data[i+6] == '\\' && s.data[i+7] == 'u' {
		if low, ok := hex4(s.data, i+8); ok && low >= 0xdc00 && low <= 0xdfff {
			return utf16.DecodeRune(r, low), 12, nil
		}
	}
	s.pos = i
	return 0, 0, invalidRequest("invalid string: lone UTF-16 surrogate \\u%04x at byte %d", r, i)
}

// hex4 decodes the four hex digits at data[i:].
func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
