package events

import (
	"fmt"
	"strings"

	cloudevent "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/extensions"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/nats-io/nats.go"
)

// An Event is carried as a CloudEvent of sdk-go's model: cloudEvent builds
// it for Encode, eventOf reads it back for Decode, and the two content modes
// only write and read that model. An attribute or extension added to both
// (the distributed-tracing extension, say) travels in either mode, and
// through ReadEnvelope, with no other change.

// The extensions copying the data's provider and statuses, so that a
// subscriber can route on them without reading the data.
const (
	extProvider       = "provider"
	extAccount        = "account"
	extPaymentStatus  = "paymentstatus"
	extPreviousStatus = "previousstatus"
)

// cloudEvent is e as a CloudEvent whose data is data, checked by sdk-go.
func (e Event) cloudEvent(data []byte) (*cloudevent.Event, error) {
	contentType := ContentTypeJSON
	ec := &cloudevent.EventContextV1{
		ID:              e.ID,
		Type:            e.Type,
		DataContentType: &contentType,
		Extensions: map[string]any{
			extProvider:      e.Data.Provider,
			extPaymentStatus: string(e.Data.Status),
		},
	}
	if p := e.Data.PreviousStatus; p != nil {
		ec.Extensions[extPreviousStatus] = string(*p)
	}
	if a := e.Data.Account; a != "" {
		ec.Extensions[extAccount] = a
	}
	// CloudEvents forbids a blank subject; the data still has the payment id.
	if strings.TrimSpace(e.Subject) != "" {
		ec.Subject = &e.Subject
	}
	if !e.Time.IsZero() {
		ec.Time = &types.Timestamp{Time: e.Time.UTC()}
	}
	if err := setAttribute(ec, "source", e.Source); err != nil {
		return nil, fmt.Errorf("source %s: %v", quote(e.Source), err)
	}
	if err := setAttribute(ec, "dataschema", e.DataSchema); err != nil {
		return nil, fmt.Errorf("dataschema %s: %v", quote(e.DataSchema), err)
	}
	ev := &cloudevent.Event{Context: ec, DataEncoded: data}
	extensions.DistributedTracingExtension{TraceParent: e.TraceParent, TraceState: e.TraceState}.AddTracingAttributes(ev)
	return ev, validate(ev, func(attr string) string { return attr + " attribute" })
}

// eventOf reads a paybridge event from the CloudEvent of a message in the
// given mode: its type must be one of ours, its data JSON that checkData
// accepts, and the attributes copied from the data must agree with it.
func eventOf(ev *cloudevent.Event, mode Mode) (Event, error) {
	name := binaryName
	if mode == Structured {
		name = structuredName
	}
	typ := ev.Type()
	if typ != TypeStatusChanged && typ != TypeWatchExpired {
		return Event{}, invalid("unsupported type %s", quote(typ))
	}
	if ct := ev.DataContentType(); ct != "" && !IsJSONMediaType(ct) {
		return Event{}, invalid("unsupported datacontenttype %s (want %s)", quote(ct), ContentTypeJSON)
	}
	data := ev.Data()
	if len(data) == 0 || isJSONNull(data) {
		return Event{}, invalid("missing data")
	}
	d, err := decodeData(data, typ)
	if err != nil {
		return Event{}, invalid("data: %s", brief(err))
	}
	if err := agree(ev, &d, name); err != nil {
		return Event{}, err
	}
	e := Event{
		ID:         ev.ID(),
		Type:       typ,
		Source:     ev.Source(),
		Subject:    ev.Subject(),
		Time:       ev.Time().UTC(),
		DataSchema: ev.DataSchema(),
		Data:       d,
	}
	if dt, ok := extensions.GetDistributedTracingExtension(*ev); ok {
		e.TraceParent, e.TraceState = dt.TraceParent, dt.TraceState
	}
	return e, nil
}

// agree checks that the attributes copied from the data (the subject and
// the extensions) say what the data says. Absent ones are fine: other
// producers may not write them.
func agree(ev *cloudevent.Event, d *StatusChanged, name func(string) string) error {
	previous := ""
	if d.PreviousStatus != nil {
		previous = string(*d.PreviousStatus)
	}
	extensions := ev.Extensions() // a copy each call
	for _, c := range []struct{ attr, field, value string }{
		{"subject", "payment_id", d.PaymentID},
		{extProvider, "provider", d.Provider},
		{extAccount, "account", d.Account},
		{extPaymentStatus, "status", string(d.Status)},
		{extPreviousStatus, "previous_status", previous},
	} {
		var v string
		if c.attr == "subject" {
			v = ev.Subject()
		} else if x, ok := extensions[c.attr]; ok {
			s, ok := x.(string)
			if !ok {
				return invalid("%s: want a string, got %T", name(c.attr), x)
			}
			v = s
		}
		if v != "" && v != c.value {
			return invalid("%s %s disagrees with data %s %s", name(c.attr), quote(v), c.field, quote(c.value))
		}
	}
	return nil
}

// binaryHeader writes the attributes and extensions of ev as the ce-
// headers of the binary mode, each value percent-encoded as the NATS
// binding says (sdk-go's NATS writer does not encode them).
func binaryHeader(ev *cloudevent.Event) (nats.Header, error) {
	ec := ev.Context.AsV1()
	n := 8 + len(ec.Extensions)
	h := make(nats.Header, n)
	values := make([]string, 0, n) // one backing array for every header
	put := func(key, v string) {
		if v != "" {
			values = append(values, percentEncode(v))
			h[key] = values[len(values)-1 : len(values) : len(values)]
		}
	}
	put("ce-specversion", cloudevent.CloudEventsVersionV1)
	put("ce-id", ec.ID)
	put("ce-source", ec.Source.String())
	put("ce-type", ec.Type)
	if ec.Subject != nil {
		put("ce-subject", *ec.Subject)
	}
	if ec.Time != nil {
		put("ce-time", ec.Time.String())
	}
	if ec.DataContentType != nil {
		put("ce-datacontenttype", *ec.DataContentType)
	}
	if ec.DataSchema != nil {
		put("ce-dataschema", ec.DataSchema.String())
	}
	for name, v := range ec.Extensions {
		s, err := types.Format(v)
		if err != nil {
			return nil, fmt.Errorf("extension %s: %v", name, err)
		}
		put(extensionHeader(name), s)
	}
	return h, nil
}

// extensionHeader is the header of an extension; paybridge's own are
// spelled out so that writing them allocates nothing.
func extensionHeader(name string) string {
	switch name {
	case extProvider:
		return "ce-" + extProvider
	case extPaymentStatus:
		return "ce-" + extPaymentStatus
	case extPreviousStatus:
		return "ce-" + extPreviousStatus
	case extAccount:
		return "ce-" + extAccount
	}
	return "ce-" + name
}

// IsJSONMediaType reports whether a datacontenttype means JSON data:
// application/json, text/json or any +json type, with or without parameters.
func IsJSONMediaType(ct string) bool {
	mt := mediaType(ct)
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// mediaType is the lower-case media type of a content type, without
// parameters.
func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}
