package providers

import (
	"bytes"
	"strings"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/internal/jsonscan"
)

// BodyDecoder reads a provider's JSON body in one pass (internal/jsonscan),
// taking only the members the provider uses and skipping the rest, by
// encoding/json's rules, so that it accepts and refuses what DecodeJSON
// into the provider's struct would, with the same errors:
//
//   - a key names a member as it would a struct field: exactly, or else
//     without regard to case (Member);
//   - of duplicate members the last one counts, and a null leaves a
//     string as it was but clears an optional one (a *string);
//   - strings are read as encoding/json reads them, a lone surrogate or a
//     byte that is not UTF-8 becoming U+FFFD;
//   - a body that is not JSON is refused first, wherever the fault is;
//     then the first member of the wrong JSON type, named by its path
//     ("field payment_detail.destination_coin is a JSON number, want
//     string"). Only the text of a syntax error differs: "the body is not
//     valid JSON: invalid character 'x' at byte 12" gives the byte where
//     encoding/json describes the scanner's state.
//
// What it reads is a slice of the body (or an unescaped copy): the
// caller copies what it keeps, with SetStrings.
type BodyDecoder struct {
	provider string
	s        jsonscan.Scanner
	wrong    error // the first member of the wrong JSON type
}

// NewBodyDecoder returns a decoder of provider's body.
func NewBodyDecoder(provider string, body []byte) BodyDecoder {
	return BodyDecoder{provider: provider, s: jsonscan.NewLenient(body)}
}

// Walk walks the body's object, calling member with each key (valid until
// member returns) and the decoder at its value, which member must read or
// Skip. A null body is an object without members, as encoding/json leaves
// a struct alone. The error is provider_bad_response: the body is not
// JSON, not an object, or has a member of the wrong type (see the type's
// comment), or an error member returned.
func (d *BodyDecoder) Walk(member func(key []byte) error) error {
	var err error
	switch kind := d.s.Kind(); kind {
	case jsonscan.Object:
		err = d.s.Object(member)
	case jsonscan.Null:
		err = d.s.Literal("null")
	case jsonscan.None:
		err = d.s.SyntaxError()
	default:
		if _, err = d.s.Skip(); err == nil {
			if err = d.s.End(); err == nil {
				return BadResponse(d.provider, "the body is a JSON %s, not an object", jsonType(kind))
			}
		}
	}
	if err == nil {
		err = d.s.End()
	}
	if syntax, ok := err.(*jsonscan.Error); ok {
		return BadResponse(d.provider, "the body is not valid JSON: %s", syntax.Msg)
	}
	if err != nil {
		return err
	}
	return d.wrong
}

// Kind is the JSON type of the value the decoder is at.
func (d *BodyDecoder) Kind() jsonscan.Kind { return d.s.Kind() }

// Members walks the object the decoder is at (Kind is jsonscan.Object)
// as Walk walks the body's.
func (d *BodyDecoder) Members(member func(key []byte) error) error {
	return d.s.Object(member)
}

// Null passes over the null the decoder is at (Kind is jsonscan.Null).
func (d *BodyDecoder) Null() error { return d.s.Literal("null") }

// Skip passes over the value, whatever it is.
func (d *BodyDecoder) Skip() error {
	_, err := d.s.Skip()
	return err
}

// String reads a member encoding/json would decode into a string: a
// string sets *dst, null leaves it as it was, any other value is of the
// wrong type.
func (d *BodyDecoder) String(field string, dst *[]byte) error {
	switch d.s.Kind() {
	case jsonscan.String:
		b, err := d.s.String()
		if err == nil {
			*dst = b
		}
		return err
	case jsonscan.Null:
		return d.s.Literal("null")
	}
	return d.WrongType(field, "string")
}

// OptionalString reads a member encoding/json would decode into a *string:
// a string sets *dst and *set, null clears *set, any other value is of the
// wrong type.
func (d *BodyDecoder) OptionalString(field string, dst *[]byte, set *bool) error {
	if d.s.Kind() == jsonscan.Null {
		*set = false
		return d.s.Literal("null")
	}
	if d.s.Kind() != jsonscan.String {
		return d.WrongType(field, "string")
	}
	b, err := d.s.String()
	if err == nil {
		*dst, *set = b, true
	}
	return err
}

// Amount reads an amount member, whatever its value (encoding/json would
// keep it as a json.RawMessage); CheckAmount judges the one kept.
func (d *BodyDecoder) Amount(dst *RawAmount) error {
	kind := d.s.Kind()
	var text []byte
	var err error
	switch kind {
	case jsonscan.String:
		text, err = d.s.String()
	case jsonscan.Number:
		text, err = d.s.Number()
	default:
		text, err = d.s.Skip()
	}
	if err == nil {
		*dst = RawAmount{kind: kind, text: text}
	}
	return err
}

// WrongType skips the value of field, which is not of the type want (Go's
// name of the type encoding/json would decode it into). Walk reports the
// first such member once the whole body is known to be JSON.
func (d *BodyDecoder) WrongType(field, want string) error {
	kind := d.s.Kind()
	if _, err := d.s.Skip(); err != nil {
		return err
	}
	if d.wrong == nil {
		d.wrong = BadResponse(d.provider, "field %s is a JSON %s, want %s", field, jsonType(kind), want)
	}
	return nil
}

// jsonType names a kind as encoding/json's type errors do.
func jsonType(k jsonscan.Kind) string {
	if k == jsonscan.Bool {
		return "bool"
	}
	return k.String()
}

// RawAmount is an amount member as read: absent (the zero RawAmount), or
// its JSON type and text (a number's, a string's content, any other
// value's JSON).
type RawAmount struct {
	kind jsonscan.Kind
	text []byte
}

// Text is the amount's text when it may be one, a number or a string;
// nil otherwise.
func (a RawAmount) Text() []byte {
	if a.kind == jsonscan.Number || a.kind == jsonscan.String {
		return a.text
	}
	return nil
}

// CheckAmount refuses, as DecimalField does, an amount in field that is
// neither absent, null, a JSON number, nor a string holding a decimal
// number, or whose text is over MaxAmountLen bytes. What Text returns is
// then the exact decimal text, or nothing.
func CheckAmount(provider, field string, a RawAmount) error {
	switch a.kind {
	case jsonscan.None, jsonscan.Null:
		return nil
	case jsonscan.String:
		if !paybridge.IsDecimal(string(a.text)) {
			return BadResponse(provider, "field %s: amount %q is not a decimal number", field, Truncate(string(a.text), 40))
		}
	default:
		if a.kind != jsonscan.Number || !paybridge.IsDecimal(string(a.text)) {
			return BadResponse(provider, "field %s: amount %s is not a decimal number", field, jsonText(a.text, 40))
		}
	}
	return checkLen(provider, field, len(a.text), MaxAmountLen)
}

// Member is the name in names that key names as encoding/json matches a
// key to a struct field: exactly, or else without regard to case under
// Unicode's simple folding (as bytes.EqualFold: "STATUS" and "ſtatus" are
// status); "" when it names none. names must be ASCII, no two the same
// but for case.
func Member(key []byte, names ...string) string {
	for _, name := range names {
		if string(key) == name {
			return name
		}
	}
	for _, name := range names {
		if bytes.EqualFold(key, []byte(name)) {
			return name
		}
	}
	return ""
}

// Text is a string to make of bytes read from a body.
type Text struct {
	To   *string
	From []byte
}

// SetStrings sets each To to a string of its From, all of them in one
// allocation: what a Result keeps of a body is a copy, never the body's
// own bytes, and is made at once.
func SetStrings(texts ...Text) {
	n := 0
	for _, t := range texts {
		n += len(t.From)
	}
	var all strings.Builder
	all.Grow(n)
	for _, t := range texts {
		all.Write(t.From)
	}
	s := all.String()
	for _, t := range texts {
		*t.To, s = s[:len(t.From)], s[len(t.From):]
	}
}
