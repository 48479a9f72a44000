// Package jsonscan is a single-pass JSON scanner: it walks one JSON text
// without building values, checking syntax as it goes, and hands the
// caller the members and values it asks for. The bridge reads check
// requests with it, and the provider clients read status bodies with it,
// each reading only the members it uses and skipping the rest.
//
// Walking a small object by hand is one pass with no allocation but the
// strings that are kept (and an unescaped copy of a string that has
// escapes), several times faster than encoding/json, which validates the
// whole text first and then decodes it by reflection.
//
// jsontext (github.com/go-json-experiment/json v1.27.2) gives the same
// strictness and was measured in its place, decoding the bridge's
// benchmark request (BenchmarkDecodeCheckRequest's body, 2 vCPU, Go 1.26,
// benchstat of 10 runs): this scanner 308 ns ±1%, 32 B, 4 allocs; a
// jsontext.Decoder reused from a pool, reading the members with
// ReadValue, 533 ns ±8% (+73%), 32 B, 4 allocs; the same without its
// duplicate-name check 466 ns (+51%); a fresh jsontext.NewDecoder only
// validating the object, 640 ns, 576 B, 10 allocs. It loses on the hot
// path of every check, so this scanner stays. (That module also warns of
// regular breaking changes, and the request decoder is imported by other
// services.)
package jsonscan

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of objects and arrays a Scanner
// accepts, encoding/json's own limit: deeper text is refused where the
// first bracket too many opens. Skipping a value takes no stack however
// deep it is; the limit keeps what a hostile text can make the scanner
// hold (a bit per open bracket) small.
const MaxDepth = 10000

// Kind is the JSON type of a value, as told by its first byte.
type Kind uint8

// The kinds of value; None is no value at all (the end of the text, or a
// byte no value starts with).
const (
	None Kind = iota
	Object
	Array
	String
	Bool
	Null
	Number
)

// String names the kind as RFC 8259 does ("boolean"); None is "".
func (k Kind) String() string {
	switch k {
	case Object:
		return "object"
	case Array:
		return "array"
	case String:
		return "string"
	case Bool:
		return "boolean"
	case Null:
		return "null"
	case Number:
		return "number"
	}
	return ""
}

// KindOf is the kind of a value starting with the byte c.
func KindOf(c byte) Kind {
	switch {
	case c == '{':
		return Object
	case c == '[':
		return Array
	case c == '"':
		return String
	case c == 't' || c == 'f':
		return Bool
	case c == 'n':
		return Null
	case c == '-' || (c >= '0' && c <= '9'):
		return Number
	}
	return None
}

// Error is a text the scanner refuses. Msg says what and at which byte,
// "invalid character 'x' at byte 5"; it never quotes more of the text
// than the one byte it stopped at.
type Error struct {
	Msg    string
	Offset int
	// Syntax is true when the text is not JSON. It is false for JSON a
	// strict Scanner refuses: a string with a lone UTF-16 surrogate.
	Syntax bool
}

// Error is Msg after "not JSON: ", or after "invalid string: " for a
// lone surrogate.
func (e *Error) Error() string {
	if e.Syntax {
		return "not JSON: " + e.Msg
	}
	return "invalid string: " + e.Msg
}

func syntaxErrorf(offset int, format string, args ...any) error {
	return &Error{Msg: fmt.Sprintf(format, args...), Offset: offset, Syntax: true}
}

// Scanner walks one JSON text. It follows RFC 8259 strictly; New's
// scanner also refuses lone UTF-16 surrogates, which encoding/json
// silently turns into U+FFFD, and NewLenient's reads strings exactly as
// encoding/json does. The zero Scanner scans an empty text.
type Scanner struct {
	data    []byte
	pos     int
	depth   int  // objects and arrays open
	lenient bool // strings as encoding/json reads them
}

// New returns a strict scanner of data: a string with a lone UTF-16
// surrogate is refused, and bytes that are not UTF-8 are kept as they are
// for the caller to judge.
func New(data []byte) Scanner {
	return Scanner{data: data}
}

// NewLenient returns a scanner of data that reads strings as encoding/json
// does: a lone surrogate escape, and each byte that is not part of a
// UTF-8 sequence, become U+FFFD. Syntax is as strict as New's.
func NewLenient(data []byte) Scanner {
	return Scanner{data: data, lenient: true}
}

// Offset is the byte the scanner is at.
func (s *Scanner) Offset() int { return s.pos }

func (s *Scanner) skipSpace() {
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
func (s *Scanner) peek() byte {
	s.skipSpace()
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// Kind passes over white space and returns the kind of the value that
// starts there, without reading it.
func (s *Scanner) Kind() Kind {
	return KindOf(s.peek())
}

// SyntaxError describes the byte the scanner is at as unexpected.
func (s *Scanner) SyntaxError() error {
	if s.pos >= len(s.data) {
		return syntaxErrorf(s.pos, "unexpected end of input")
	}
	c := s.data[s.pos]
	if printable(c) {
		return syntaxErrorf(s.pos, "invalid character '%c' at byte %d", c, s.pos)
	}
	return syntaxErrorf(s.pos, "invalid byte 0x%02x at byte %d", c, s.pos)
}

// printable reports whether c may be quoted in an error message as it is:
// printable ASCII. Any other byte is given by its value, so that a message
// never carries a control byte or broken UTF-8 from the input.
func printable(c byte) bool { return c > ' ' && c < 0x7f }

// End checks that nothing but white space follows the value read.
func (s *Scanner) End() error {
	if s.skipSpace(); s.pos < len(s.data) {
		what := "value"
		if first := New(s.data); first.peek() == '{' {
			what = "object"
		}
		return syntaxErrorf(s.pos, "data after the %s at byte %d", what, s.pos)
	}
	return nil
}

// open enters an object or array at s.pos, refusing one too deep.
func (s *Scanner) open() error {
	if s.depth >= MaxDepth {
		return syntaxErrorf(s.pos, "more than %d nested objects and arrays at byte %d", MaxDepth, s.pos)
	}
	s.depth++
	s.pos++
	return nil
}

// Object walks the object that starts after white space, calling member
// with each key (unescaped; a slice of the input when it has no escapes,
// valid only until member returns) and the scanner at the value; member
// must read or Skip the value. Duplicate keys are all passed on.
func (s *Scanner) Object(member func(key []byte) error) error {
	if s.peek() != '{' {
		return s.SyntaxError()
	}
	if err := s.open(); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.SyntaxError()
		}
		key, err := s.readString(true)
		if err != nil {
			return err
		}
		if s.peek() != ':' {
			return s.SyntaxError()
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
			s.depth--
			return nil
		default:
			return s.SyntaxError()
		}
	}
}

// Literal passes over word (true, false or null) at the scanner's byte.
func (s *Scanner) Literal(word string) error {
	for i := 0; i < len(word); i++ {
		if s.pos >= len(s.data) || s.data[s.pos] != word[i] {
			return s.SyntaxError()
		}
		s.pos++
	}
	return nil
}

// Null passes over a null value and reports whether there was one; any
// other value is left unread.
func (s *Scanner) Null() (bool, error) {
	if s.peek() != 'n' {
		return false, nil
	}
	return true, s.Literal("null")
}

// Bool reads a boolean value; anything else is a syntax error, so check
// Kind first to say which type it was.
func (s *Scanner) Bool() (bool, error) {
	switch s.peek() {
	case 't':
		return true, s.Literal("true")
	case 'f':
		return false, s.Literal("false")
	}
	return false, s.SyntaxError()
}

// String reads a string value and returns its content, unescaped; without
// escapes (and, lenient, bytes to replace) it is a slice of the input.
// Anything else is a syntax error, so check Kind first.
func (s *Scanner) String() ([]byte, error) {
	if s.peek() != '"' {
		return nil, s.SyntaxError()
	}
	return s.readString(true)
}

// Number reads a number value and returns its text, a slice of the input
// in RFC 8259's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?.
// Anything else is a syntax error, so check Kind first.
func (s *Scanner) Number() ([]byte, error) {
	s.skipSpace()
	start, d := s.pos, s.data
	p := start
	digits := func() int {
		from := p
		for p < len(d) && d[p] >= '0' && d[p] <= '9' {
			p++
		}
		return p - from
	}
	if p < len(d) && d[p] == '-' {
		p++
	}
	switch {
	case p < len(d) && d[p] == '0':
		p++
	case digits() == 0:
		s.pos = p
		return nil, s.SyntaxError()
	}
	if p < len(d) && d[p] == '.' {
		p++
		if digits() == 0 {
			s.pos = p
			return nil, s.SyntaxError()
		}
	}
	if p < len(d) && (d[p] == 'e' || d[p] == 'E') {
		p++
		if p < len(d) && (d[p] == '+' || d[p] == '-') {
			p++
		}
		if digits() == 0 {
			s.pos = p
			return nil, s.SyntaxError()
		}
	}
	s.pos = p
	return d[start:p], nil
}

// Skip passes over the value that starts after white space, whatever it
// is, checking its syntax, and returns its text. Nested objects and
// arrays are walked without recursion.
func (s *Scanner) Skip() ([]byte, error) {
	s.skipSpace()
	start, base := s.pos, s.depth
	// inObject has a bit per object or array opened here, set for an
	// object; the first 256 levels need no allocation.
	var small [4]uint64
	inObject := small[:]
	for {
		// A value starts here.
		switch c := s.peek(); c {
		case '{', '[':
			if err := s.open(); err != nil {
				return nil, err
			}
			level := s.depth - base - 1
			if level/64 >= len(inObject) {
				inObject = append(inObject, make([]uint64, len(inObject))...)
			}
			if c == '[' {
				inObject[level/64] &^= 1 << (level % 64)
				if s.peek() != ']' {
					continue // to the first element
				}
			} else {
				inObject[level/64] |= 1 << (level % 64)
				if s.peek() != '}' {
					if err := s.skipKey(); err != nil {
						return nil, err
					}
					continue // to the first member's value
				}
			}
			s.pos++
			s.depth--
		case '"':
			if _, err := s.readString(false); err != nil {
				return nil, err
			}
		case 't':
			if err := s.Literal("true"); err != nil {
				return nil, err
			}
		case 'f':
			if err := s.Literal("false"); err != nil {
				return nil, err
			}
		case 'n':
			if err := s.Literal("null"); err != nil {
				return nil, err
			}
		default:
			if _, err := s.Number(); err != nil {
				return nil, err
			}
		}
		// A value ended: close what it ends, up to the next value.
		for {
			if s.depth == base {
				return s.data[start:s.pos], nil
			}
			level := s.depth - base - 1
			object := inObject[level/64]&(1<<(level%64)) != 0
			c := s.peek()
			if c == ',' {
				s.pos++
				if object {
					if err := s.skipKey(); err != nil {
						return nil, err
					}
				}
				break
			}
			if (object && c == '}') || (!object && c == ']') {
				s.pos++
				s.depth--
				continue
			}
			return nil, s.SyntaxError()
		}
	}
}

// skipKey passes over an object's key and its colon.
func (s *Scanner) skipKey() error {
	if s.peek() != '"' {
		return s.SyntaxError()
	}
	if _, err := s.readString(false); err != nil {
		return err
	}
	if s.peek() != ':' {
		return s.SyntaxError()
	}
	s.pos++
	return nil
}

// readString reads the string starting at s.pos and, with keep, returns
// its content unescaped; without keep it only checks it. Without escapes
// the content is a slice of the input.
func (s *Scanner) readString(keep bool) ([]byte, error) {
	start := s.pos + 1
	high := false // a byte outside ASCII: lenient, it may need replacing
	for i := start; i < len(s.data); i++ {
		switch c := s.data[i]; {
		case c == '"':
			s.pos = i + 1
			content := s.data[start:i]
			if keep && high && s.lenient && !utf8.Valid(content) {
				return appendValidUTF8(make([]byte, 0, len(content)+16), content), nil
			}
			return content, nil
		case c == '\\':
			return s.readEscapedString(start, i, keep, high)
		case c < ' ':
			s.pos = i
			return nil, syntaxErrorf(i, "unescaped control character %U in a string at byte %d", rune(c), i)
		case c >= utf8.RuneSelf:
			high = true
		}
	}
	s.pos = len(s.data)
	return nil, s.SyntaxError()
}

// readEscapedString finishes readString from the first backslash at i;
// high says whether a byte before it was outside ASCII.
func (s *Scanner) readEscapedString(start, i int, keep, high bool) ([]byte, error) {
	var out []byte
	if keep {
		out = append(make([]byte, 0, i-start+16), s.data[start:i]...)
	}
	for i < len(s.data) {
		c := s.data[i]
		switch {
		case c == '"':
			s.pos = i + 1
			if keep && high && s.lenient && !utf8.Valid(out) {
				// Escapes write whole UTF-8 sequences, so the bytes to
				// replace are the input's own, as encoding/json finds them.
				out = appendValidUTF8(make([]byte, 0, len(out)+16), out)
			}
			return out, nil
		case c < ' ':
			s.pos = i
			return nil, syntaxErrorf(i, "unescaped control character %U in a string at byte %d", rune(c), i)
		case c != '\\':
			if keep {
				out = append(out, c)
			}
			high = high || c >= utf8.RuneSelf
			i++
			continue
		}
		if i+1 >= len(s.data) {
			break
		}
		var r rune
		switch e := s.data[i+1]; e {
		case '"', '\\', '/':
			r = rune(e)
		case 'b':
			r = '\b'
		case 'f':
			r = '\f'
		case 'n':
			r = '\n'
		case 'r':
			r = '\r'
		case 't':
			r = '\t'
		case 'u':
			r, n, err := s.unicodeEscape(i)
			if err != nil {
				return nil, err
			}
			if keep {
				out = utf8.AppendRune(out, r)
			}
			i += n
			continue
		default:
			s.pos = i
			if printable(e) {
				return nil, syntaxErrorf(i, "invalid escape '\\%c' at byte %d", e, i)
			}
			return nil, syntaxErrorf(i, "invalid escape: a backslash, then byte 0x%02x at byte %d", e, i)
		}
		if keep {
			out = append(out, byte(r))
		}
		i += 2
	}
	s.pos = len(s.data)
	return nil, s.SyntaxError()
}

// unicodeEscape decodes the \uXXXX escape at i, joining a surrogate pair,
// and returns the rune and the bytes it took. A lone surrogate is an
// error, or U+FFFD when lenient.
func (s *Scanner) unicodeEscape(i int) (rune, int, error) {
	r, ok := hex4(s.data, i+2)
	switch {
	case !ok && i+6 > len(s.data):
		s.pos = len(s.data)
		return 0, 0, s.SyntaxError()
	case !ok:
		s.pos = i
		return 0, 0, syntaxErrorf(i, "invalid \\u escape at byte %d", i)
	}
	if !utf16.IsSurrogate(r) {
		return r, 6, nil
	}
	if r < 0xdc00 && i+12 <= len(s.data) && s.data[i+6] == '\\' && s.data[i+7] == 'u' {
		if low, ok := hex4(s.data, i+8); ok && low >= 0xdc00 && low <= 0xdfff {
			return utf16.DecodeRune(r, low), 12, nil
		}
	}
	if s.lenient {
		return utf8.RuneError, 6, nil
	}
	s.pos = i
	return 0, 0, &Error{Msg: fmt.Sprintf("lone UTF-16 surrogate \\u%04x at byte %d", r, i), Offset: i}
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

// appendValidUTF8 appends b with each byte that does not start a UTF-8
// sequence (utf8.DecodeRune's RuneError of size 1) replaced by U+FFFD, as
// encoding/json coerces strings.
func appendValidUTF8(dst, b []byte) []byte {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, b[:n]...)
		}
		b = b[n:]
	}
	return dst
}
