package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/schemas"
)

// FuzzDecodeCheckRequest feeds the decoders any body under a Content-Type
// and a ce-specversion header. They must never panic, must fail only with
// invalid_request, and whatever they accept must pass the JSON Schema, obey
// the field rules and hold the values encoding/json reads from the same
// object.
func FuzzDecodeCheckRequest(f *testing.F) {
	for _, c := range checkRequestCases() {
		if len(c.body) <= 4096 {
			contentType := headerValue(c.header, "content-type")
			specversion := headerValue(c.header, "ce-specversion")
			f.Add(contentType, specversion, []byte(c.body))
		}
	}
	f.Fuzz(func(t *testing.T, contentType, ceSpecversion string, body []byte) {
		header := nats.Header{}
		if contentType != "" {
			header.Set("Content-Type", contentType)
		}
		if ceSpecversion != "" {
			header.Set("ce-specversion", ceSpecversion)
			header.Set("ce-id", "evt-1")
			header.Set("ce-source", "urn:test:fuzz")
			header.Set("ce-type", "io.paybridge.check.requested.v1")
		}

		req, err := DecodeCheckRequest(header, body)
		if err != nil {
			assertCodedError(t, err)
		} else {
			data, _, err := requestBody(header, body)
			if err != nil {
				t.Fatalf("accepted, yet requestBody fails: %v", err)
			}
			if err := schemaAcceptsDecoded(schemas.CheckRequest, data); err != nil {
				t.Fatalf("accepted %+v, which the schema refuses: %v", req, err)
			}
			assertFieldRules(t, req)
			assertSameAsEncodingJSON(t, data, req)
		}

		status, err := DecodeStatusRequest(header, body)
		if err != nil {
			assertCodedError(t, err)
			return
		}
		data, _, _ := requestBody(header, body)
		if err := schemaAcceptsDecoded(schemas.StatusRequest, data); err != nil {
			t.Fatalf("accepted %+v, which the schema refuses: %v", status, err)
		}
		assertFieldRules(t, CheckRequest{Provider: status.Provider, PaymentID: status.PaymentID})
	})
}

// headerValue is the first value of the header name, looked up without
// regard to case, as the cases write names in any case.
func headerValue(header nats.Header, name string) string {
	for k, v := range header {
		if len(v) > 0 && strings.EqualFold(k, name) {
			return v[0]
		}
	}
	return ""
}

func assertCodedError(t *testing.T, err error) {
	t.Helper()
	var perr *paybridge.Error
	if !errors.As(err, &perr) || perr.Code != paybridge.CodeInvalidRequest {
		t.Fatalf("error %v (%T) is not an invalid_request *paybridge.Error", err, err)
	}
	if len(perr.Message) > 200 {
		t.Fatalf("message is %d bytes long: %q", len(perr.Message), perr.Message)
	}
}

// assertFieldRules re-checks the field rules of docs/contract.md on an
// accepted request.
func assertFieldRules(t *testing.T, req CheckRequest) {
	t.Helper()
	text := func(name, v string, min, max int) {
		if len(v) < min || len(v) > max {
			t.Fatalf("%s is %d bytes, want %d to %d", name, len(v), min, max)
		}
		if !utf8.ValidString(v) {
			t.Fatalf("%s %q is not UTF-8", name, v)
		}
		if i := strings.IndexFunc(v, unicode.IsControl); i >= 0 {
			t.Fatalf("%s %q has a control character at byte %d", name, v, i)
		}
	}
	text("provider", req.Provider, 1, 64)
	text("payment_id", req.PaymentID, 1, 256)
	text("request_id", req.RequestID, 0, 128)
	if req.PaymentID == "." || req.PaymentID == ".." {
		t.Fatalf("payment_id %q is a dot segment", req.PaymentID)
	}
	if req.MaxAge < 0 || req.MaxAge > 30*24*time.Hour {
		t.Fatalf("max_age %s is out of range", req.MaxAge)
	}
}

// assertSameAsEncodingJSON decodes the accepted object with encoding/json
// and compares what the hand-written scanner read.
func assertSameAsEncodingJSON(t *testing.T, data []byte, req CheckRequest) {
	t.Helper()
	var doc struct {
		Provider  string  `json:"provider"`
		PaymentID string  `json:"payment_id"`
		MaxAge    *string `json:"max_age"`
		Watch     *bool   `json:"watch"`
		RequestID *string `json:"request_id"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("accepted, yet encoding/json refuses it: %v", err)
	}
	var maxAge time.Duration
	if doc.MaxAge != nil {
		maxAge, _ = time.ParseDuration(*doc.MaxAge)
	}
	want := CheckRequest{
		Provider:  doc.Provider,
		PaymentID: doc.PaymentID,
		MaxAge:    maxAge,
		Watch:     doc.Watch != nil && *doc.Watch,
	}
	if doc.RequestID != nil {
		want.RequestID = *doc.RequestID
	}
	if req != want {
		t.Fatalf("decoded %+v, encoding/json reads %+v", req, want)
	}
}

// schemaAcceptsDecoded validates what a decoder accepted against the schema
// file name.
func schemaAcceptsDecoded(name string, data []byte) error {
	return schemas.Validate(name, data)
}
