// CloudEvent unwrap: a request may arrive as a CloudEvent, in structured
// mode (the JSON event format) or in binary mode (ce- headers, the body is
// the data). Either way only the data is the request; the event's required
// attributes are checked so that a malformed event is refused, not guessed at.

package bridge

import (
	"encoding/base64"
	"net/url"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/paybridge/paybridge/events"
)

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
		if !events.IsJSONMediaType(v) {
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
	if ct, ok := attrs["datacontenttype"]; ok && !events.IsJSONMediaType(ct) {
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
