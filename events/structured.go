package events

import (
	"encoding/json"
	"errors"
	"fmt"
)

// structuredEvent is the CloudEvents JSON event format of paybridge's
// events, extensions included. It is written and read with encoding/json:
// sdk-go's event reader panics on some malformed input (a non-string
// "data_base64") and stops reading at an empty member name, and a subscriber
// must survive anything on the wire.
type structuredEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            string          `json:"time,omitempty"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	DataSchema      string          `json:"dataschema,omitempty"`
	Provider        string          `json:"provider,omitempty"`
	PaymentStatus   string          `json:"paymentstatus,omitempty"`
	PreviousStatus  string          `json:"previousstatus,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`
	DataBase64      []byte          `json:"data_base64,omitempty"`
}

func structuredOf(a attributes, data []byte) structuredEvent {
	return structuredEvent{
		SpecVersion:     a[attrSpecVersion],
		ID:              a[attrID],
		Source:          a[attrSource],
		Type:            a[attrType],
		Subject:         a[attrSubject],
		Time:            a[attrTime],
		DataContentType: a[attrDataContentType],
		DataSchema:      a[attrDataSchema],
		Provider:        a[attrProvider],
		PaymentStatus:   a[attrPaymentStatus],
		PreviousStatus:  a[attrPreviousStatus],
		Data:            data,
	}
}

func (s *structuredEvent) attributes() attributes {
	var a attributes
	a[attrSpecVersion] = s.SpecVersion
	a[attrID] = s.ID
	a[attrSource] = s.Source
	a[attrType] = s.Type
	a[attrSubject] = s.Subject
	a[attrTime] = s.Time
	a[attrDataContentType] = s.DataContentType
	a[attrDataSchema] = s.DataSchema
	a[attrProvider] = s.Provider
	a[attrPaymentStatus] = s.PaymentStatus
	a[attrPreviousStatus] = s.PreviousStatus
	return a
}

// decodeStructured reads the JSON event format. contentType is the
// message's Content-Type, "" when it had none.
func decodeStructured(contentType string, body []byte) (Event, error) {
	if contentType != "" {
		switch mt := mediaType(contentType); mt {
		case ContentTypeCloudEvents:
		case "application/cloudevents-batch+json":
			return Event{}, invalid("batched events (%s) are not supported", mt)
		default:
			return Event{}, invalid("unsupported event format %q (want %s)", mt, ContentTypeCloudEvents)
		}
	}
	if !isJSONObject(body) {
		return Event{}, invalid("structured event: body is not a JSON object")
	}
	var s structuredEvent
	if err := json.Unmarshal(body, &s); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return Event{}, invalid("structured event: not JSON: %v", err)
		}
		return Event{}, invalid("structured event: %v", err)
	}
	data := []byte(s.Data)
	if isJSONNull(data) {
		data = nil
	}
	if s.DataBase64 != nil {
		if data != nil {
			return Event{}, invalid("structured event has both data and data_base64")
		}
		data = s.DataBase64
	}
	return finish(s.attributes(), data, structuredName)
}

// structuredName names an attribute of the JSON event format in errors.
func structuredName(a attribute) string {
	return fmt.Sprintf("%q attribute", attributeNames[a])
}
