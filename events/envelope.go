package events

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	cloudevent "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/nats-io/nats.go"
)

// ErrInvalidEvent is wrapped by every error of Decode and ReadEnvelope: the
// message is not a valid CloudEvent, or not a paybridge event.
var ErrInvalidEvent = errors.New("invalid event")

// InvalidEventError is the error of Decode and ReadEnvelope. Reason names
// what is missing or wrong, quoting at most a few dozen bytes of the input,
// so that a caller can pass it on (the bridge answers a check request sent
// as a broken CloudEvent with it).
type InvalidEventError struct{ Reason string }

func (e *InvalidEventError) Error() string { return ErrInvalidEvent.Error() + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalidEvent) hold.
func (e *InvalidEventError) Unwrap() error { return ErrInvalidEvent }

func invalid(format string, args ...any) error {
	return &InvalidEventError{Reason: fmt.Sprintf(format, args...)}
}

// Envelope is what a NATS message says about the CloudEvent it carries.
type Envelope struct {
	// Event holds the event's attributes, extensions and data, checked
	// against the CloudEvents specification by sdk-go. Its DataEncoded is
	// the data as sent: JSON stays raw bytes, never parsed into numbers;
	// data_base64 is already decoded. Event is nil when the message is not
	// a CloudEvent: the body is then plain data.
	Event *cloudevent.Event
	// Mode is the content mode the event came in; only meaningful when
	// Event is not nil.
	Mode Mode
}

// ReadEnvelope reads the CloudEvents envelope of a NATS message by the
// rules of the CloudEvents NATS protocol binding. It is the one reader of
// both paybridge's own events (Decode) and the check requests that arrive as
// CloudEvents (the bridge's intake), so the two cannot disagree:
//   - structured mode when the Content-Type (any case) is
//     application/cloudevents+json, parameters allowed; a batch or another
//     event format is refused;
//   - otherwise binary mode when there is a ce- header (names in any case):
//     each attribute and extension is a ce- header whose value is
//     percent-decoded, and datacontenttype is ce-datacontenttype or else an
//     unprefixed content-type (where sdk-go's NATS reader looks for it);
//   - otherwise the message is not a CloudEvent and Envelope.Event is nil.
//
// Only CloudEvents 1.0 is read. What the event's type and data must be is
// the caller's business. Every error is an *InvalidEventError, and nothing
// on the wire makes ReadEnvelope panic.
func ReadEnvelope(header nats.Header, body []byte) (Envelope, error) {
	if len(header) == 0 {
		return Envelope{}, nil
	}
	h, err := scanHeader(header)
	if err != nil {
		return Envelope{}, err
	}
	switch mt := mediaType(h.contentType); {
	case mt == ContentTypeCloudEvents:
		ev, err := readStructured(body)
		return Envelope{Event: ev, Mode: Structured}, err
	case mt == "application/cloudevents-batch+json":
		return Envelope{}, invalid("batched events (%s) are not supported", mt)
	case strings.HasPrefix(mt, "application/cloudevents"):
		return Envelope{}, invalid("unsupported event format %s (want %s)", quote(mt), ContentTypeCloudEvents)
	case len(h.ce) > 0:
		ev, err := readBinary(&h, body)
		return Envelope{Event: ev, Mode: Binary}, err
	}
	return Envelope{}, nil
}

// ceHeader is one ce- header value.
type ceHeader struct {
	name  string // the attribute's name: the header's, less ce-, in lower case
	key   string // the header's name as sent
	value string // as sent, still percent-encoded
}

// headerScan is what a message's header says, before any decoding.
type headerScan struct {
	ce             []ceHeader
	contentType    string // the unprefixed content-type, "" if none
	contentTypeKey string
}

// scanHeader collects the ce- headers and the content-type, matching names
// without regard to case. Two different content types are refused, in
// whichever order the map yields them.
func scanHeader(header nats.Header) (headerScan, error) {
	s := headerScan{ce: make([]ceHeader, 0, len(header))}
	var contentTypes []string
	for k, vs := range header {
		switch {
		case len(k) >= len("ce-") && strings.EqualFold(k[:len("ce-")], "ce-"):
			name := strings.ToLower(k[len("ce-"):])
			for _, v := range vs {
				s.ce = append(s.ce, ceHeader{name: name, key: k, value: v})
			}
		case strings.EqualFold(k, "content-type"):
			contentTypes = append(contentTypes, vs...)
			if s.contentTypeKey == "" || k < s.contentTypeKey {
				s.contentTypeKey = k
			}
		}
	}
	if len(contentTypes) > 0 {
		slices.Sort(contentTypes)
		first, last := contentTypes[0], contentTypes[len(contentTypes)-1]
		if first != last {
			return s, invalid("conflicting content-type headers: %s and %s", quote(first), quote(last))
		}
		s.contentType = first
	}
	return s, nil
}

// attributeHeaders checks the names of the ce- headers and returns one per
// attribute, sorted by name. An attribute given two different values (say
// by ce-id and Ce-Id) is refused, naming the least and the greatest.
func (s *headerScan) attributeHeaders() ([]ceHeader, error) {
	slices.SortFunc(s.ce, func(a, b ceHeader) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := strings.Compare(a.value, b.value); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	for i, c := range s.ce {
		if !validAttributeName(c.name) {
			return nil, invalid("%s header: %s is not a CloudEvents attribute name (lower-case letters and digits)", quote(c.key), quote(c.name))
		}
		if i > 0 && c.name == s.ce[i-1].name && c.value != s.ce[i-1].value {
			last := i
			for last+1 < len(s.ce) && s.ce[last+1].name == c.name {
				last++
			}
			return nil, invalid("conflicting ce-%s headers: %s and %s", c.name, quote(s.ce[i-1].value), quote(s.ce[last].value))
		}
	}
	return slices.CompactFunc(s.ce, func(a, b ceHeader) bool { return a.name == b.name }), nil
}

// readBinary builds the event of a binary-mode message from its ce-
// headers; the body is the data.
func readBinary(h *headerScan, body []byte) (*cloudevent.Event, error) {
	headers, err := h.attributeHeaders()
	if err != nil {
		return nil, err
	}
	ec := &cloudevent.EventContextV1{}
	specversion := ""
	for _, c := range headers {
		v, err := percentDecode(c.value)
		if err != nil {
			return nil, invalid("%s header: %v", cut(c.key, 40), err)
		}
		if err := setAttribute(ec, c.name, v); err != nil {
			return nil, invalid("%s header: %s", cut(c.key, 40), brief(err))
		}
		if c.name == "specversion" {
			specversion = v
		}
	}
	if ec.DataContentType == nil && h.contentType != "" {
		v, err := percentDecode(h.contentType)
		if err != nil {
			return nil, invalid("%s header: %v", h.contentTypeKey, err)
		}
		ec.DataContentType = &v
	}
	if err := checkSpecVersion(specversion, binaryName); err != nil {
		return nil, err
	}
	ev := &cloudevent.Event{Context: ec, DataEncoded: body}
	if err := validate(ev, binaryName); err != nil {
		return nil, err
	}
	return ev, nil
}

// setAttribute sets the attribute name of ec from its text form, as the
// binary mode carries it. Empty values are absent attributes. It writes the
// context's fields directly, not through sdk-go's setters, which trim white
// space from id, type and subject: a payment id " x " must stay itself.
func setAttribute(ec *cloudevent.EventContextV1, name, v string) error {
	if v == "" {
		return nil
	}
	switch name {
	case "specversion":
	case "id":
		ec.ID = v
	case "type":
		ec.Type = v
	case "source":
		u, err := url.Parse(v)
		if err != nil {
			return err
		}
		ec.Source = types.URIRef{URL: *u}
	case "subject":
		ec.Subject = &v
	case "time":
		// RFC 3339, as sdk-go's types.ParseTime reads it.
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return err
		}
		ec.Time = &types.Timestamp{Time: t}
	case "datacontenttype":
		ec.DataContentType = &v
	case "dataschema":
		u, err := url.Parse(v)
		if err != nil {
			return err
		}
		ec.DataSchema = &types.URI{URL: *u}
	default:
		return ec.SetExtension(name, v)
	}
	return nil
}

// validAttributeName reports whether name is a CloudEvents attribute name:
// lower-case ASCII letters and digits.
func validAttributeName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// checkSpecVersion accepts CloudEvents 1.0 only, the version of the NATS
// binding paybridge follows.
func checkSpecVersion(v string, name func(string) string) error {
	switch v {
	case cloudevent.CloudEventsVersionV1:
		return nil
	case "":
		return invalid("specversion is required (missing %s)", name("specversion"))
	}
	return invalid("specversion must be %q, got %s", cloudevent.CloudEventsVersionV1, quote(v))
}

// validate checks ev against the CloudEvents specification with sdk-go,
// and that every text attribute is UTF-8 (both content modes must be able
// to carry it back). name says where an attribute came from, for errors.
func validate(ev *cloudevent.Event, name func(string) string) error {
	var err error
	if !recovered(func() { err = ev.Validate() }) {
		return invalid("event: sdk-go's validation failed")
	}
	var verr cloudevent.ValidationError
	switch {
	case err == nil:
	case errors.As(err, &verr):
		for _, required := range []string{"id", "source", "type"} {
			if verr[required] != nil {
				return invalid("%s is required (missing %s)", required, name(required))
			}
		}
		keys := make([]string, 0, len(verr))
		for k := range verr {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return invalid("%s: %s", name(keys[0]), brief(verr[keys[0]]))
	default:
		return invalid("event: %s", brief(err))
	}
	for attr, v := range textAttributes(ev) {
		if !utf8.ValidString(v) {
			return invalid("%s: not valid UTF-8", name(attr))
		}
	}
	return nil
}

// textAttributes yields the attributes and string extensions of ev that
// are text, by name.
func textAttributes(ev *cloudevent.Event) func(yield func(string, string) bool) {
	return func(yield func(string, string) bool) {
		if !yield("id", ev.ID()) || !yield("type", ev.Type()) || !yield("subject", ev.Subject()) ||
			!yield("datacontenttype", ev.DataContentType()) || !yield("source", ev.Source()) ||
			!yield("dataschema", ev.DataSchema()) {
			return
		}
		for k, v := range ev.Extensions() {
			if s, ok := v.(string); ok && !yield(k, s) {
				return
			}
		}
	}
}

// recovered runs f, reporting false if it panicked. sdk-go's JSON reader
// panics on some malformed input, and the decoders read what anyone may
// publish; only calls into sdk-go are wrapped, so that a bug of this
// package still crashes its fuzz test.
func recovered(f func()) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	f()
	return true
}

// binaryName names an attribute of the binary mode in errors.
func binaryName(attr string) string { return "ce-" + attr + " header" }

// structuredName names an attribute of the JSON event format in errors.
func structuredName(attr string) string { return strconv.Quote(attr) + " attribute" }

// quote quotes a value for an error message like %q, cut to about 40
// bytes of quoted text, so that a hostile message is never echoed at length.
func quote(s string) string {
	const limit = 40
	q := strconv.Quote(s)
	if len(q) <= limit+2 {
		return q
	}
	b := []byte{'"'}
	for i := 0; i < len(s); {
		_, size := utf8.DecodeRuneInString(s[i:])
		piece := strconv.Quote(s[i : i+size])
		if len(b)+len(piece)-2 > limit {
			break
		}
		b = append(b, piece[1:len(piece)-1]...)
		i += size
	}
	return string(b) + `…"`
}

// brief is an error's text cut to 100 bytes: library errors may quote the
// input whole.
func brief(err error) string { return cut(escapeControls(err.Error()), 100) }

// escapeControls writes the control characters, line and paragraph
// separators and invalid bytes of s as Go escapes: sdk-go's messages quote
// a refused value raw ("cannot parse uri ref: x\r\n…"), and a reason may
// travel in a header and a log line.
func escapeControls(s string) string {
	if !strings.ContainsFunc(s, unprintable) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unprintable(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func unprintable(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError
}

// cut shortens s to at most limit bytes, on a rune boundary, marking the cut.
func cut(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	for limit > 0 && !utf8.RuneStart(s[limit]) {
		limit--
	}
	return s[:limit] + "…"
}
