package events

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrInvalidEvent is wrapped by every decoding error: the message is not a
// paybridge event. The error's text names what is missing or wrong.
var ErrInvalidEvent = errors.New("invalid event")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidEvent, fmt.Sprintf(format, args...))
}

// DecodeMsg decodes a core NATS message; see Decode.
func DecodeMsg(m *nats.Msg) (Event, error) {
	if m == nil {
		return Event{}, invalid("nil message")
	}
	return Decode(m.Header, m.Data)
}

// DecodeJetStream decodes a message from a JetStream consumer; see Decode.
func DecodeJetStream(m jetstream.Msg) (Event, error) {
	if m == nil {
		return Event{}, invalid("nil message")
	}
	return Decode(m.Headers(), m.Data())
}

// Decode reads an event in either content mode:
//   - structured when the Content-Type starts with application/cloudevents;
//   - binary when there is a ce- header: header names are matched without
//     regard to case, values are percent-decoded, and the data content type
//     comes from ce-datacontenttype or else an unprefixed content-type
//     (where sdk-go's NATS JetStream reader looks for it);
//   - otherwise structured, as sdk-go's reader assumes.
//
// Every error wraps ErrInvalidEvent and names the problem. Decode never
// panics, whatever the input.
func Decode(header nats.Header, data []byte) (Event, error) {
	h := scanHeader(header)
	if err := h.conflict(); err != nil {
		return Event{}, err
	}
	contentType := h.values[slotContentType]
	switch {
	case strings.HasPrefix(mediaType(contentType), "application/cloudevents"):
		return decodeStructured(contentType, data)
	case h.binary:
		return decodeBinary(&h, data)
	case len(data) == 0:
		return Event{}, invalid("empty message: no ce- headers and no body")
	}
	return decodeStructured("", data)
}

// slotContentType is where headerScan keeps the unprefixed content-type.
const slotContentType = attrCount

// headerScan is what a message's header says, before any decoding.
type headerScan struct {
	values [attrCount + 1]string   // raw values, by attribute, then content-type
	keys   [attrCount + 1]string   // the header name each value came from
	others [attrCount + 1][]string // different values for the same slot
	binary bool                    // there is at least one ce- header
}

// conflict reports the first attribute given two different values (say by
// ce-id and Ce-Id), whichever order the header map yields them in.
func (s *headerScan) conflict() error {
	for slot, others := range s.others {
		if len(others) == 0 {
			continue
		}
		name := "content-type"
		if slot < int(attrCount) {
			name = headerNames[slot]
		}
		all := append([]string{s.values[slot]}, others...)
		slices.Sort(all)
		return invalid("conflicting %s headers: %q and %q", name, all[0], all[len(all)-1])
	}
	return nil
}

func scanHeader(h nats.Header) headerScan {
	var s headerScan
	for k, vs := range h {
		var slot attribute
		switch {
		case len(k) > len("ce-") && strings.EqualFold(k[:len("ce-")], "ce-"):
			s.binary = true
			a, ok := lookupAttribute(strings.ToLower(k[len("ce-"):]))
			if !ok {
				continue // an extension of someone else's
			}
			slot = a
		case strings.EqualFold(k, "content-type"):
			slot = slotContentType
		default:
			continue
		}
		for _, v := range vs {
			switch {
			case s.keys[slot] == "":
				s.keys[slot], s.values[slot] = k, v
			case v != s.values[slot]:
				s.others[slot] = append(s.others[slot], v)
			}
		}
	}
	return s
}

func decodeBinary(h *headerScan, body []byte) (Event, error) {
	var a attributes
	for i := range attrCount {
		if h.keys[i] == "" {
			continue
		}
		v, err := percentDecode(h.values[i])
		if err != nil {
			return Event{}, invalid("%s header: %v", h.keys[i], err)
		}
		a[i] = v
	}
	if a[attrDataContentType] == "" {
		a[attrDataContentType] = h.values[slotContentType]
	}
	return finish(a, body, binaryName)
}

// binaryName names an attribute of the binary mode in errors.
func binaryName(a attribute) string {
	return headerNames[a] + " header"
}

// finish checks the attributes and data of either content mode and builds
// the Event. name says where an attribute came from, for errors.
func finish(a attributes, data []byte, name func(attribute) string) (Event, error) {
	switch sv := a[attrSpecVersion]; {
	case sv == "":
		return Event{}, invalid("missing %s", name(attrSpecVersion))
	case sv != specVersion:
		return Event{}, invalid("unsupported specversion %q (want %s)", sv, specVersion)
	}
	for _, required := range []attribute{attrID, attrSource, attrType} {
		if a[required] == "" {
			return Event{}, invalid("missing %s", name(required))
		}
	}
	if t := a[attrType]; t != TypeStatusChanged && t != TypeWatchExpired {
		return Event{}, invalid("unsupported type %q", t)
	}
	var at time.Time
	if s := a[attrTime]; s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return Event{}, invalid("%s: %v", name(attrTime), err)
		}
		at = t.UTC()
	}
	if ct := a[attrDataContentType]; ct != "" && !IsJSONMediaType(ct) {
		return Event{}, invalid("unsupported datacontenttype %q (want %s)", ct, ContentTypeJSON)
	}
	if len(data) == 0 {
		return Event{}, invalid("missing data")
	}
	d, err := decodeData(data, a[attrType])
	if err != nil {
		return Event{}, invalid("data: %v", err)
	}
	if err := agree(a, &d, name); err != nil {
		return Event{}, err
	}
	return Event{
		ID:         a[attrID],
		Type:       a[attrType],
		Source:     a[attrSource],
		Subject:    a[attrSubject],
		Time:       at,
		DataSchema: a[attrDataSchema],
		Data:       d,
	}, nil
}

// agree checks that the attributes copied from the data (the subject and
// the extensions) say what the data says. Absent ones are fine: other
// producers may not write them.
func agree(a attributes, d *StatusChanged, name func(attribute) string) error {
	previous := ""
	if d.PreviousStatus != nil {
		previous = string(*d.PreviousStatus)
	}
	for _, c := range []struct {
		attr  attribute
		field string
		value string
	}{
		{attrSubject, "payment_id", d.PaymentID},
		{attrProvider, "provider", d.Provider},
		{attrPaymentStatus, "status", string(d.Status)},
		{attrPreviousStatus, "previous_status", previous},
	} {
		if v := a[c.attr]; v != "" && v != c.value {
			return invalid("%s %q disagrees with data %s %q", name(c.attr), v, c.field, c.value)
		}
	}
	return nil
}
