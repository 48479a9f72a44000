package events

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	cloudevent "github.com/cloudevents/sdk-go/v2/event"
)

// The JSON event format (the structured mode), written and read by sdk-go.
// Its reader is lenient where a decoder of untrusted input must not be: it
// stops at an empty member name and ignores the rest, keeps the last of
// duplicate members, panics on a data_base64 that is not a string, and
// treats some null members as present. scanStructured refuses such input
// before sdk-go reads it, and calls into sdk-go are recovered.

// member is one member of a structured event.
type member struct {
	name string
	raw  json.RawMessage
}

// structuredScan is what scanStructured found in a structured event.
type structuredScan struct {
	members     []member
	nulls       bool   // a member is null: an absent attribute
	specversion string // "" if absent
	contentType string // the datacontenttype, "" if absent
	data        string // the JSON kind of data, "" if absent
	dataBase64  bool
}

// stringMembers are the members the JSON event format holds as JSON
// strings: the context attributes and data_base64.
var stringMembers = map[string]bool{
	"specversion": true, "id": true, "source": true, "type": true, "subject": true, "time": true,
	"datacontenttype": true, "dataschema": true, "data_base64": true,
}

// readStructured reads a body in the JSON event format.
func readStructured(body []byte) (*cloudevent.Event, error) {
	s, err := scanStructured(body)
	if err != nil {
		return nil, err
	}
	if err := checkSpecVersion(s.specversion, structuredName); err != nil {
		return nil, err
	}
	switch {
	case s.data != "" && s.dataBase64:
		return nil, invalid("has both data and data_base64")
	case s.data != "" && s.data != "string" && s.contentType != "" && !IsJSONMediaType(s.contentType):
		return nil, invalid("datacontenttype %s is not JSON, so data must be a string, got %s", quote(s.contentType), s.data)
	}
	in := body
	renameType := s.jsonUnknownToSDK()
	if s.nulls || s.dataBase64 || renameType {
		in = s.forSDK(renameType)
	}
	ev := new(cloudevent.Event)
	var rerr error
	if !recovered(func() { rerr = ev.UnmarshalJSON(in) }) {
		return nil, invalid("structured event: sdk-go's JSON reader failed on it")
	}
	if rerr != nil {
		var corrupt base64.CorruptInputError
		if errors.As(rerr, &corrupt) {
			return nil, invalid("data_base64 is not base64: %v", rerr)
		}
		return nil, invalid("structured event: %s", brief(rerr))
	}
	if renameType {
		ev.SetDataContentType(s.contentType)
	}
	if schema, ok := s.value("dataschema"); ok && ev.DataSchema() == "" {
		// sdk-go drops a dataschema it cannot parse; the binary mode
		// refuses it.
		return nil, invalid("dataschema %s is not a URI", quote(schema))
	}
	if err := validate(ev, structuredName); err != nil {
		return nil, err
	}
	return ev, nil
}

// scanStructured checks that body is one JSON object whose members have
// CloudEvents attribute names, each once, with values of the right kind:
// a string (or null) for the context attributes and data_base64; a string,
// a 32-bit integer, a boolean (or null) for an extension, as CloudEvents
// has no other types; anything for data. A JSON object without specversion
// is not a CloudEvent at all, and is reported so before any other problem
// of its members.
func scanStructured(body []byte) (structuredScan, error) {
	var s structuredScan
	if !json.Valid(body) {
		return s, notJSON(json.Unmarshal(body, new(json.RawMessage)))
	}
	i := skipSpace(body, 0)
	if body[i] != '{' {
		return s, invalid("structured event: body is not a JSON object, got %s", rawKind(body[i:]))
	}
	var problem error // the first member found wrong
	seen := make(map[string]bool, 16)
	for i = skipSpace(body, i+1); body[i] != '}'; i = skipSpace(body, i) {
		if body[i] == ',' {
			i = skipSpace(body, i+1)
		}
		end := skipValue(body, i)
		name := unquote(body[i:end])
		i = skipSpace(body, skipSpace(body, end)+1) // past the colon
		end = skipValue(body, i)
		if err := s.add(name, body[i:end], seen); err != nil && problem == nil {
			problem = err
		}
		i = end
	}
	if !seen["specversion"] {
		return s, checkSpecVersion("", structuredName)
	}
	return s, problem
}

// skipSpace returns the index of the first byte from i that is not JSON
// white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// skipValue returns the index just after the JSON value starting at i, in
// input that json.Valid accepted: only where values end needs finding.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		for i++; b[i] != '"'; i++ {
			if b[i] == '\\' {
				i++
			}
		}
		return i + 1
	case '{', '[':
		for depth := 0; ; {
			switch b[i] {
			case '"':
				i = skipValue(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
	}
	for i < len(b) && !strings.ContainsRune(",}] \t\r\n", rune(b[i])) {
		i++
	}
	return i
}

// add checks one member and keeps it unless it is null.
func (s *structuredScan) add(name string, raw json.RawMessage, seen map[string]bool) error {
	switch {
	case !validAttributeName(name) && name != "data_base64":
		return invalid("attribute name %s is not lower-case letters and digits", quote(name))
	case seen[name]:
		return invalid("duplicate attribute %s", quote(name))
	}
	seen[name] = true
	kind := rawKind(raw)
	switch {
	case kind == "null":
		s.nulls = true // absent, as the JSON event format says
		return nil
	case name == "data":
		s.data = kind
	case stringMembers[name] && kind != "string":
		return invalid("%s: want a string, got %s", name, kind)
	case stringMembers[name]:
	case kind == "number":
		if _, err := strconv.ParseInt(string(raw), 10, 32); err != nil {
			return invalid("extension %s: %s is not a 32-bit integer", quote(name), quote(string(raw)))
		}
	case kind != "string" && kind != "boolean":
		return invalid("extension %s: want a string, an integer or a boolean, got %s", quote(name), kind)
	}
	switch name {
	case "specversion":
		s.specversion = unquote(raw)
	case "datacontenttype":
		s.contentType = unquote(raw)
	case "data_base64":
		s.dataBase64 = true
	}
	s.members = append(s.members, member{name, raw})
	return nil
}

// value is the string value of the member name, and whether the event
// has it (not null).
func (s *structuredScan) value(name string) (string, bool) {
	for _, m := range s.members {
		if m.name == name {
			return unquote(m.raw), true
		}
	}
	return "", false
}

// jsonUnknownToSDK reports whether the event's datacontenttype is JSON
// (any +json type, parameters or not) but not one of the few exact types
// sdk-go's reader takes for JSON, which then wants data to be a string.
func (s *structuredScan) jsonUnknownToSDK() bool {
	switch s.contentType {
	case "", cloudevent.ApplicationJSON, cloudevent.TextJSON, cloudevent.ApplicationCloudEventsJSON, cloudevent.ApplicationCloudEventsBatchJSON:
		return false
	}
	return s.data != "" && s.data != "string" && IsJSONMediaType(s.contentType)
}

// forSDK is the event again as sdk-go's reader reads it right: without
// its null members, which it does not all take as absent; with renameType,
// its JSON datacontenttype that sdk-go does not know named
// application/json (the caller sets the real one back); and with
// data_base64 unescaped, which it decodes escapes and all ("\/") unless a
// datacontenttype comes first.
func (s *structuredScan) forSDK(renameType bool) []byte {
	b := []byte{'{'}
	for i, m := range s.members {
		if i > 0 {
			b = append(b, ',')
		}
		// Names are letters, digits and "_": nothing to escape.
		b = append(b, '"')
		b = append(b, m.name...)
		b = append(b, '"', ':')
		switch {
		case m.name == "datacontenttype" && renameType:
			b = append(b, `"application/json"`...)
		case m.name == "data_base64":
			// Written again by encoding/json, which escapes nothing of
			// base64's alphabet (and anything else a lying value holds).
			q, _ := json.Marshal(unquote(m.raw))
			b = append(b, q...)
		default:
			b = append(b, m.raw...)
		}
	}
	return append(b, '}')
}

// notJSON describes why json.Valid refused a body.
func notJSON(err error) error {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return invalid("structured event: not JSON: %s at byte %d", syntax, syntax.Offset)
	}
	return invalid("structured event: not JSON: %s", brief(err))
}

// rawKind names the JSON kind of a valid JSON value.
func rawKind(raw []byte) string {
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// unquote returns the text of a JSON string known to be valid.
func unquote(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// writeStructured renders ev in the JSON event format with sdk-go's writer,
// which copies JSON data as it is (amounts stay the strings they are).
func writeStructured(ev *cloudevent.Event) ([]byte, error) {
	var buf bytes.Buffer
	if err := cloudevent.WriteJson(ev, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
