package events

import (
	"strings"
	"time"

	"github.com/paybridge/paybridge"
)

// attribute is a CloudEvents context attribute or extension this package
// writes and reads.
type attribute int

const (
	attrSpecVersion attribute = iota
	attrID
	attrType
	attrSource
	attrSubject
	attrTime
	attrDataContentType
	attrDataSchema
	attrProvider
	attrPaymentStatus
	attrPreviousStatus
	attrCount
)

// attributeNames are the attributes' names in the JSON format; in the binary
// mode each is a header with the prefix ce-.
var attributeNames = [attrCount]string{
	"specversion", "id", "type", "source", "subject", "time", "datacontenttype",
	"dataschema", "provider", "paymentstatus", "previousstatus",
}

// headerNames are the binary mode's header names, built once.
var headerNames = func() (h [attrCount]string) {
	for a, name := range attributeNames {
		h[a] = "ce-" + name
	}
	return h
}()

// lookupAttribute returns the attribute named name (lower case), or false
// for an attribute this package does not use.
func lookupAttribute(name string) (attribute, bool) {
	for a, n := range attributeNames {
		if n == name {
			return attribute(a), true
		}
	}
	return 0, false
}

// attributes are an event's attribute values as text, the form both content
// modes share; "" is absent.
type attributes [attrCount]string

// attributesOf renders e's attributes, the extensions taken from its data.
func attributesOf(e Event) attributes {
	var a attributes
	a[attrSpecVersion] = specVersion
	a[attrID] = e.ID
	a[attrType] = e.Type
	a[attrSource] = e.Source
	a[attrSubject] = e.Subject
	if !e.Time.IsZero() {
		a[attrTime] = formatTime(e.Time)
	}
	a[attrDataContentType] = ContentTypeJSON
	a[attrDataSchema] = e.DataSchema
	a[attrProvider] = e.Data.Provider
	a[attrPaymentStatus] = string(e.Data.Status)
	if p := e.Data.PreviousStatus; p != nil {
		a[attrPreviousStatus] = string(*p)
	}
	return a
}

// formatTime writes a time as the JSON event format does: RFC 3339 in UTC,
// with as many fractional digits as needed.
func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
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

// publishedStatus reports whether s can appear in an event: a normalized
// status other than unknown, which is never stored or published.
func publishedStatus(s paybridge.Status) bool {
	return s.Valid() && s != paybridge.StatusUnknown
}
