package paybridge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Code classifies an error for callers: it is the "code" of an error reply.
type Code string

// The error codes of the contract (docs/contract.md, "Error codes").
const (
	CodeInvalidRequest      Code = "invalid_request"
	CodeUnknownProvider     Code = "unknown_provider"
	CodeUnknownAccount      Code = "unknown_account"
	CodePaymentNotFound     Code = "payment_not_found"
	CodeProviderAuthFailed  Code = "provider_auth_failed"
	CodeProviderRateLimited Code = "provider_rate_limited"
	CodeProviderUnavailable Code = "provider_unavailable"
	CodeProviderTimeout     Code = "provider_timeout"
	CodeProviderBadResponse Code = "provider_bad_response"
	CodeOverloaded          Code = "overloaded"
	CodeInternal            Code = "internal"
)

// Codes lists every error code.
var Codes = []Code{
	CodeInvalidRequest, CodeUnknownProvider, CodeUnknownAccount, CodePaymentNotFound, CodeProviderAuthFailed,
	CodeProviderRateLimited, CodeProviderUnavailable, CodeProviderTimeout,
	CodeProviderBadResponse, CodeOverloaded, CodeInternal,
}

// HeaderCode is the HTTP-like number sent in the Nats-Service-Error-Code header.
func (c Code) HeaderCode() int {
	switch c {
	case CodeInvalidRequest, CodeUnknownProvider, CodeUnknownAccount:
		return http.StatusBadRequest
	case CodePaymentNotFound:
		return http.StatusNotFound
	case CodeProviderAuthFailed, CodeProviderBadResponse:
		return http.StatusBadGateway
	case CodeProviderRateLimited:
		return http.StatusTooManyRequests
	case CodeProviderUnavailable, CodeOverloaded:
		return http.StatusServiceUnavailable
	case CodeProviderTimeout:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// Retryable reports whether the same request may succeed if sent again later.
func (c Code) Retryable() bool {
	switch c {
	case CodeProviderRateLimited, CodeProviderUnavailable, CodeProviderTimeout, CodeOverloaded:
		return true
	}
	return false
}

// Error is an error as data: a Code for programs and a Message for people.
// Messages never carry credentials.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Is makes errors.Is(err, &Error{Code: c}) match any *Error with code c.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err: the Code of an *Error in its chain,
// provider_timeout for a context deadline, and internal for anything else.
func ErrorCode(err error) Code {
	if err == nil {
		return "" // before any errors.As, whose target would escape: no allocation for a success
	}
	if e, ok := err.(*Error); ok {
		return e.Code
	}
	return wrappedCode(err)
}

func wrappedCode(err error) Code {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, context.DeadlineExceeded):
		return CodeProviderTimeout
	}
	return CodeInternal
}

// ErrorMessage returns the message of the *Error in err's chain. Any other
// error becomes a generic text: its words may come from a library and are
// not vetted for secrets.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "deadline exceeded"
	}
	return "internal error"
}
