package bridge

import (
	"encoding/base64"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/paybridge/paybridge/providers"
)

// MaxRequestBytes is the largest request accepted (64 KiB).
const MaxRequestBytes = 64 << 10

// Field limits of a request (SPEC section 3).
const (
	maxProviderBytes  = 64
	maxPaymentIDBytes = 256
	maxRequestIDBytes = 128
	maxMaxAge         = 30 * 24 * time.Hour
)

// CheckRequest is a decoded and validated request on payments.check.
type CheckRequest struct {
	Provider  string
	PaymentID string
	MaxAge    time.Duration // 0 = always ask the provider
	Watch     bool
	RequestID string
}

// StatusRequest is a decoded and validated request on payments.status.get.
type StatusRequest struct{ Provider, PaymentID string }

// DecodeCheckRequest decodes a payments.check message body with its NATS headers.
// Every error is a *providers.Error with CodeInvalidRequest whose message
// names the problem and the field.
func DecodeCheckRequest(header nats.Header, data []byte) (CheckRequest, error) {
	f, err := decodeRequest(header, data, checkRequestFields)
	if err != nil {
		return CheckRequest{}, err
	}
	return CheckRequest{
		Provider:  f.provider,
		PaymentID: f.paymentID,
		MaxAge:    f.maxAge,
		Watch:     f.watch,
		RequestID: f.requestID,
	}, nil
}

// DecodeStatusRequest decodes a payments.status.get message body with its
// NATS headers; errors are as DecodeCheckRequest's.
func DecodeStatusRequest(header nats.Header, data []byte) (StatusRequest, error) {
	f, err := decodeRequest(header, data, statusRequestFields)
	if err != nil {
		return StatusRequest{}, err
	}
	return StatusRequest{Provider: f.provider, PaymentID: f.paymentID}, nil
}

// requestField is one member of a request object, as a bit so that the
// allowed, seen and required sets are single words.
type requestField uint8

const (
	fieldProvider requestField = 1 << iota
	fieldPaymentID
	fieldMaxAge
	fieldWatch
	fieldRequestID
)

const (
	checkRequestFields  = fieldProvider | fieldPaymentID | fieldMaxAge | fieldWatch | fieldRequestID
	statusRequestFields = fieldProvider | fieldPaymentID
	requiredFields      = fieldProvider | fieldPaymentID
)

func requestFieldNamed(name []byte) requestField {
	switch string(name) {
	case "provider":
		return fieldProvider
	case "payment_id":
		return fieldPaymentID
	case "max_age":
		return fieldMaxAge
	case "watch":
		return fieldWatch
	case "request_id":
		return fieldRequestID
	}
	return 0
}

func (f requestField) String() string {
	switch f {
	case fieldProvider:
		return "provider"
	case fieldPaymentID:
		return "payment_id"
	case fieldMaxAge:
		return "max_age"
	case fieldWatch:
		return "watch"
	case fieldRequestID:
		return "request_id"
	}
	return "unknown"
}

// requestFields holds the validated members of either request.
type requestFields struct {
	provider, paymentID, requestID string
	maxAge                         time.Duration
	watch                          bool
}

func decodeRequest(header nats.Header, data []byte, allowed requestField) (requestFields, error) {
	if len(data) > MaxRequestBytes {
		return requestFields{}, invalidRequest("request is %d bytes, the limit is %d", len(data), MaxRequestBytes)
	}
	body, err := cloudEventData(header, data)
	if err != nil {
		return requestFields{}, err
	}
	return decodeRequestObject(body, allowed)
}

// decodeRequestObject walks the request object once, validating each member
// as it is read; the first problem found is the one reported.
func decodeRequestObject(body []byte, allowed requestField) (requestFields, error) {
	var f requestFields
	s := jsonScanner{data: body}
	if err := s.startObject("request"); err != nil {
		return f, err
	}
	var seen requestField
	err := s.object(func(key []byte) error {
		field := requestFieldNamed(key) & allowed
		switch {
		case field == 0:
			return invalidRequest("unknown field %s", quoted(string(key)))
		case seen&field != 0:
			return invalidRequest("duplicate field %q", key)
		}
		seen |= field
		switch isNull, err := s.null(); {
		case err != nil:
			return err
		case isNull && field&requiredFields != 0:
			return invalidRequest("%s: is required, got null", field)
		case isNull:
			return nil
		}
		return f.set(&s, field)
	})
	if err != nil {
		return f, err
	}
	if err := s.end(); err != nil {
		return f, err
	}
	for _, field := range []requestField{fieldProvider, fieldPaymentID} {
		if seen&field == 0 {
			return f, invalidRequest("%s: is required", field)
		}
	}
	return f, nil
}

// set reads the (non-null) value of field from s and validates it.
func (f *requestFields) set(s *jsonScanner, field requestField) error {
	if field == fieldWatch {
		watch, err := s.readBool(field.String())
		f.watch = watch
		return err
	}
	b, err := s.readStringValue(field.String())
	if err != nil {
		return err
	}
	switch field {
	case fieldProvider:
		f.provider, err = validText(field, b, 1, maxProviderBytes)
	case fieldPaymentID:
		f.paymentID, err = validPaymentID(b)
	case fieldRequestID:
		f.requestID, err = validText(field, b, 0, maxRequestIDBytes)
	case fieldMaxAge:
		f.maxAge, err = validMaxAge(b)
	}
	return err
}

// validText checks a string member: minBytes to maxBytes bytes of UTF-8 without
// control characters (C0, DEL, C1).
func validText(field requestField, b []byte, minBytes, maxBytes int) (string, error) {
	switch {
	case minBytes == 0 && len(b) > maxBytes:
		return "", invalidRequest("%s: must be at most %d bytes, got %d", field, maxBytes, len(b))
	case len(b) < minBytes || len(b) > maxBytes:
		return "", invalidRequest("%s: must be %d to %d bytes, got %d", field, minBytes, maxBytes, len(b))
	}
	for i := 0; i < len(b); {
		r, size := rune(b[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return "", invalidRequest("%s: not valid UTF-8 at byte %d", field, i)
			}
		}
		if unicode.IsControl(r) {
			return "", invalidRequest("%s: contains control character %U at byte %d", field, r, i)
		}
		i += size
	}
	return string(b), nil
}

// validPaymentID also refuses the dot segments: a provider's status URL has
// the id as a path segment, and "." or ".." would name another path however
// it is escaped. Every other id, "../x" or "a.b.*>" included, is valid and is
// encoded where it is used.
func validPaymentID(b []byte) (string, error) {
	id, err := validText(fieldPaymentID, b, 1, maxPaymentIDBytes)
	if err == nil && (id == "." || id == "..") {
		return "", invalidRequest("payment_id: %q is a dot segment, which cannot be put in a provider URL path", id)
	}
	return id, err
}

// validMaxAge parses a Go duration written without a sign (the schema's
// pattern), not over 30 days.
func validMaxAge(b []byte) (time.Duration, error) {
	text := string(b)
	switch {
	case strings.HasPrefix(text, "-"):
		return 0, invalidRequest("max_age: must not be negative, got %s", quoted(text))
	case strings.HasPrefix(text, "+"):
		return 0, invalidRequest("max_age: must be written without a sign, got %s", quoted(text))
	}
	d, err := time.ParseDuration(text)
	switch {
	case err != nil:
		return 0, invalidRequest("max_age: %s is not a duration", quoted(text))
	case d > maxMaxAge:
		return 0, invalidRequest("max_age: must be at most %s, got %s", maxMaxAge, quoted(text))
	}
	return d, nil
}

// cloudEventData returns the request object a message carries: the body, or
// the data of a CloudEvent in structured mode (Content-Type
// application/cloudevents+json) or binary mode (a ce-specversion header).
func cloudEventData(header nats.Header, body []byte) ([]byte, error) {
	if ct, ok := headerValue(header, "content-type"); ok &&
		len(ct) >= len(structuredContentType) && strings.EqualFold(ct[:len(structuredContentType)], structuredContentType) {
		return structuredEventData(body)
	}
	if _, ok := headerValue(header, "ce-specversion"); ok {
		return binaryEventData(header, body)
	}
	return body, nil
}

const structuredContentType = "application/cloudevents+json"

// binaryEventData checks the ce- headers of a binary-mode event; its body is
// the data itself.
func binaryEventData(header nats.Header, body []byte) ([]byte, error) {
	for _, name := range []string{"ce-specversion", "ce-id", "ce-source", "ce-type"} {
		v, _ := headerValue(header, name)
		attr := strings.TrimPrefix(name, "ce-")
		if err := checkEventAttribute(attr, v); err != nil {
			return nil, err
		}
	}
	for _, name := range []string{"ce-datacontenttype", "content-type"} {
		v, ok := headerValue(header, name)
		if !ok {
			continue
		}
		// The NATS binding percent-encodes header values ("; charset=utf-8").
		if unescaped, err := url.PathUnescape(v); err == nil {
			v = unescaped
		}
		if !isJSONMediaType(v) {
			return nil, invalidRequest("CloudEvent: %s %s is not JSON", name, quoted(v))
		}
	}
	return body, nil
}

// structuredEventData takes the data, or the decoded data_base64, of a
// CloudEvent in the JSON event format.
func structuredEventData(body []byte) ([]byte, error) {
	s := jsonScanner{data: body}
	if err := s.startObject("CloudEvent"); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	attrs := map[string]string{}
	var data, data64 []byte
	var hasData, hasData64 bool
	err := s.object(func(key []byte) error {
		name := string(key)
		if seen[name] {
			return invalidRequest("CloudEvent: duplicate attribute %s", quoted(string(key)))
		}
		seen[name] = true
		if isNull, err := s.null(); isNull || err != nil {
			return err // null is an absent attribute
		}
		var err error
		switch name {
		case "specversion", "id", "source", "type", "datacontenttype":
			var v []byte
			v, err = s.readStringValue("CloudEvent: " + name)
			attrs[name] = string(v)
		case "data_base64":
			data64, err = s.readStringValue("CloudEvent: data_base64")
			hasData64 = true
		case "data":
			if kind := jsonKind(s.peek()); kind != "object" && kind != "" {
				return invalidRequest("CloudEvent: data must be a JSON object, got %s", kind)
			}
			start := s.pos
			err = s.skipValue(0)
			data, hasData = body[start:s.pos], true
		default:
			err = s.skipValue(0)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := s.end(); err != nil {
		return nil, err
	}
	for _, name := range []string{"specversion", "id", "source", "type"} {
		if err := checkEventAttribute(name, attrs[name]); err != nil {
			return nil, err
		}
	}
	if ct, ok := attrs["datacontenttype"]; ok && !isJSONMediaType(ct) {
		return nil, invalidRequest("CloudEvent: datacontenttype %s is not JSON", quoted(ct))
	}
	switch {
	case hasData && hasData64:
		return nil, invalidRequest("CloudEvent: has both data and data_base64")
	case hasData:
		return data, nil
	case !hasData64:
		return nil, invalidRequest("CloudEvent: has no data")
	}
	decoded := make([]byte, base64.StdEncoding.DecodedLen(len(data64)))
	n, err := base64.StdEncoding.Decode(decoded, data64)
	if err != nil {
		return nil, invalidRequest("CloudEvent: data_base64 is not base64: %v", err)
	}
	return decoded[:n], nil
}

// checkEventAttribute checks a required context attribute; an empty value
// is a missing one.
func checkEventAttribute(name, value string) error {
	switch {
	case value == "":
		return invalidRequest("CloudEvent: %s is required", name)
	case name == "specversion" && value != "1.0":
		return invalidRequest("CloudEvent: specversion must be \"1.0\", got %s", quoted(value))
	}
	return nil
}

// isJSONMediaType accepts application/json and any */*+json, with parameters.
func isJSONMediaType(v string) bool {
	mediaType, _, err := mime.ParseMediaType(v)
	return err == nil && (mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"))
}

// headerValue looks a header up ignoring case: NATS headers are
// case-sensitive, and clients write both Content-Type and content-type.
func headerValue(header nats.Header, name string) (string, bool) {
	if v := header[name]; len(v) > 0 {
		return v[0], true
	}
	for k, v := range header {
		if len(v) > 0 && strings.EqualFold(k, name) {
			return v[0], true
		}
	}
	return "", false
}

func invalidRequest(format string, args ...any) error {
	return providers.Errorf(providers.CodeInvalidRequest, format, args...)
}

// quoted quotes a value for an error message like %q, cut to about 40
// bytes of quoted text, so that a hostile request never echoes much of
// itself.
func quoted(s string) string {
	const limit = 40
	var sb strings.Builder
	sb.WriteByte('"')
	for s != "" {
		_, size := utf8.DecodeRuneInString(s)
		piece := strconv.Quote(s[:size])
		piece = piece[1 : len(piece)-1]
		if sb.Len()+len(piece) > limit {
			sb.WriteString("…")
			break
		}
		sb.WriteString(piece)
		s = s[size:]
	}
	sb.WriteByte('"')
	return sb.String()
}

// jsonScanner walks one JSON text without building values: a request is a
// small flat object, and walking it by hand is one pass with an allocation
// per string kept, several times faster than encoding/json (which also
// cannot report duplicate keys). It follows RFC 8259 strictly and also
// refuses lone UTF-16 surrogates, which encoding/json silently turns into
// U+FFFD.
type jsonScanner struct {
	data []byte
	pos  int
}

// maxJSONDepth bounds the nesting of skipped values (CloudEvent extensions).
const maxJSONDepth = 1000

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

// skipValue checks and passes over one value of any type.
func (s *jsonScanner) skipValue(depth int) error {
	if depth > maxJSONDepth {
		return invalidRequest("not JSON: nested more than %d deep at byte %d", maxJSONDepth, s.pos)
	}
	switch c := s.peek(); {
	case c == '"':
		_, err := s.readString()
		return err
	case c == '{':
		return s.object(func([]byte) error { return s.skipValue(depth + 1) })
	case c == '[':
		return s.skipArray(depth)
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.skipNumber()
	}
	return s.syntaxError()
}

func (s *jsonScanner) skipArray(depth int) error {
	s.pos++ // '['
	if s.peek() == ']' {
		s.pos++
		return nil
	}
	for {
		if err := s.skipValue(depth + 1); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.syntaxError()
		}
	}
}

// skipNumber passes over -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *jsonScanner) skipNumber() error {
	if s.data[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(s.data) && s.data[s.pos] == '0':
		s.pos++
	case s.digits() == 0:
		return s.syntaxError()
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			return s.syntaxError()
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			return s.syntaxError()
		}
	}
	return nil
}

func (s *jsonScanner) digits() int {
	start := s.pos
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
	}
	return s.pos - start
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
		return nil, invalidRequest("%s: %s", name, providers.ErrorMessage(err))
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
