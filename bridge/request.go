// Request field rules and decoders for payments.check and
// payments.status.get (docs/contract.md, schemas/check-request.json): which
// members each request allows and requires, and the limits on each value.
// The JSON walk is internal/jsonscan's, its errors made the bridge's in
// jsonscan.go; a request sent as a CloudEvent is unwrapped by
// events.ReadEnvelope, the reader paybridge's event subscribers use too.

package bridge

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/internal/jsonscan"
)

// MaxRequestBytes is the largest request accepted (64 KiB).
const MaxRequestBytes = 64 << 10

// CheckRequest is a decoded and validated request on payments.check.
type CheckRequest struct {
	Provider  string
	Account   string // "" for the provider's default account
	PaymentID string
	MaxAge    time.Duration // 0 = always ask the provider
	Watch     bool
	RequestID string

	// received is when the request reached the bridge; checks that arrive
	// while a provider call is under way share it (coalesce.go).
	received time.Time
}

// payment is the payment the request is about.
func (r CheckRequest) payment() Payment {
	return Payment{Provider: r.Provider, Account: r.Account, ID: r.PaymentID}
}

// StatusRequest is a decoded and validated request on payments.status.get.
type StatusRequest struct{ Provider, Account, PaymentID string }

// DecodeCheckRequest decodes a payments.check message body with its NATS headers.
// Every error is a *paybridge.Error with CodeInvalidRequest whose message
// names the problem and the field.
func DecodeCheckRequest(header nats.Header, data []byte) (CheckRequest, error) {
	f, err := decodeRequest(header, data, checkRequestFields)
	if err != nil {
		return CheckRequest{}, err
	}
	return CheckRequest{
		Provider:  f.provider,
		Account:   f.account,
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
	return StatusRequest{Provider: f.provider, Account: f.account, PaymentID: f.paymentID}, nil
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
	fieldAccount
)

const (
	checkRequestFields  = fieldProvider | fieldAccount | fieldPaymentID | fieldMaxAge | fieldWatch | fieldRequestID
	statusRequestFields = fieldProvider | fieldAccount | fieldPaymentID
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
	case "account":
		return fieldAccount
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
	case fieldAccount:
		return "account"
	}
	return "unknown"
}

// requestFields holds the validated members of either request.
type requestFields struct {
	provider, account, paymentID, requestID string
	maxAge                                  time.Duration
	watch                                   bool
}

func decodeRequest(header nats.Header, data []byte, allowed requestField) (requestFields, error) {
	if len(data) > MaxRequestBytes {
		return requestFields{}, invalidRequest("request is %d bytes, the limit is %d", len(data), MaxRequestBytes)
	}
	body, what, err := requestBody(header, data)
	if err != nil {
		return requestFields{}, err
	}
	return decodeRequestObject(body, what, allowed)
}

// requestBody returns the request object a message carries, and what to
// call it in errors: the body itself, or the data of the CloudEvent the
// message is (in either content mode). The event's attributes are checked
// by events.ReadEnvelope; its data must be JSON.
func requestBody(header nats.Header, data []byte) (body []byte, what string, err error) {
	env, err := events.ReadEnvelope(header, data)
	if err != nil {
		var bad *events.InvalidEventError
		if errors.As(err, &bad) {
			return nil, "", invalidRequest("CloudEvent: %s", bad.Reason)
		}
		return nil, "", invalidRequest("CloudEvent: %s", quoted(err.Error()))
	}
	if env.Event == nil {
		return data, "request", nil
	}
	if ct := env.Event.DataContentType(); ct != "" && !events.IsJSONMediaType(ct) {
		return nil, "", invalidRequest("CloudEvent: datacontenttype %s is not JSON", quoted(ct))
	}
	if body = env.Event.Data(); len(body) == 0 {
		return nil, "", invalidRequest("CloudEvent: has no data")
	}
	return body, "CloudEvent: data", nil
}

// decodeRequestObject walks the request object once, validating each member
// as it is read; the first problem found is the one reported. what names
// the object in the error when it is not one.
func decodeRequestObject(body []byte, what string, allowed requestField) (requestFields, error) {
	var f requestFields
	s := jsonscan.New(body)
	if err := startObject(&s, what); err != nil {
		return f, err
	}
	var seen requestField
	err := s.Object(func(key []byte) error {
		field := requestFieldNamed(key) & allowed
		switch {
		case field == 0:
			return invalidRequest("unknown field %s", quoted(string(key)))
		case seen&field != 0:
			return invalidRequest("duplicate field %q", key)
		}
		seen |= field
		switch isNull, err := s.Null(); {
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
		return f, requestError(err)
	}
	if err := s.End(); err != nil {
		return f, requestError(err)
	}
	for _, field := range []requestField{fieldProvider, fieldPaymentID} {
		if seen&field == 0 {
			return f, invalidRequest("%s: is required", field)
		}
	}
	return f, nil
}

// set reads the (non-null) value of field from s and validates it.
func (f *requestFields) set(s *jsonscan.Scanner, field requestField) error {
	if field == fieldWatch {
		watch, err := readBool(s, field.String())
		f.watch = watch
		return err
	}
	b, err := readStringValue(s, field.String())
	if err != nil {
		return err
	}
	switch field {
	case fieldProvider:
		f.provider, err = validText(field, b, 1, paybridge.MaxProviderBytes)
	case fieldPaymentID:
		f.paymentID, err = validPaymentID(b)
	case fieldRequestID:
		f.requestID, err = validText(field, b, 0, paybridge.MaxRequestIDBytes)
	case fieldAccount:
		f.account, err = validAccount(b)
	case fieldMaxAge:
		f.maxAge, err = validMaxAge(b)
	}
	return err
}

// validText is paybridge.TextProblem's rule for a string field, as the
// field's string.
func validText(field requestField, b []byte, minBytes, maxBytes int) (string, error) {
	if p := paybridge.TextProblem(b, minBytes, maxBytes); p != "" {
		return "", invalidRequest("%s: %s", field, p)
	}
	return string(b), nil
}

// validPaymentID is paybridge.PaymentIDProblem's rule, the id as a string.
func validPaymentID(b []byte) (string, error) {
	if p := paybridge.PaymentIDProblem(b); p != "" {
		return "", invalidRequest("%s: %s", fieldPaymentID, p)
	}
	return string(b), nil
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
	case d > paybridge.MaxMaxAge:
		return 0, invalidRequest("max_age: must be at most %s, got %s", paybridge.MaxMaxAge, quoted(text))
	}
	return d, nil
}

// validAccount checks a merchant account's name: empty (the default
// account), or 1 to 64 bytes of [A-Za-z0-9_-].
func validAccount(b []byte) (string, error) {
	if len(b) == 0 {
		return "", nil
	}
	if problem := paybridge.AccountProblem(string(b)); problem != "" {
		return "", invalidRequest("account: %s, got %s", problem, quoted(string(b)))
	}
	return string(b), nil
}

func invalidRequest(format string, args ...any) error {
	return paybridge.Errorf(paybridge.CodeInvalidRequest, format, args...)
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
