package client

import (
	"errors"
	"fmt"

	"github.com/paybridge/paybridge"
)

// One sentinel for each error code of docs/contract.md, "Error codes":
// errors.Is(err, ErrPaymentNotFound) holds when the bridge answered
// payment_not_found. They are *paybridge.Error values with an empty
// Message, which matches any message of their code; compare them with
// errors.Is, never ==, and never change them.
var (
	ErrInvalidRequest      = &paybridge.Error{Code: paybridge.CodeInvalidRequest}
	ErrUnknownProvider     = &paybridge.Error{Code: paybridge.CodeUnknownProvider}
	ErrUnknownAccount      = &paybridge.Error{Code: paybridge.CodeUnknownAccount}
	ErrPaymentNotFound     = &paybridge.Error{Code: paybridge.CodePaymentNotFound}
	ErrProviderAuthFailed  = &paybridge.Error{Code: paybridge.CodeProviderAuthFailed}
	ErrProviderRateLimited = &paybridge.Error{Code: paybridge.CodeProviderRateLimited}
	ErrProviderUnavailable = &paybridge.Error{Code: paybridge.CodeProviderUnavailable}
	ErrProviderTimeout     = &paybridge.Error{Code: paybridge.CodeProviderTimeout}
	ErrProviderBadResponse = &paybridge.Error{Code: paybridge.CodeProviderBadResponse}
	ErrOverloaded          = &paybridge.Error{Code: paybridge.CodeOverloaded}
	ErrInternal            = &paybridge.Error{Code: paybridge.CodeInternal}
)

// ErrNoBridge means that nothing answers on the request subject: no
// bridge runs on this NATS (or it has no permission to answer there). The
// error also matches nats.ErrNoResponders.
var ErrNoBridge = errors.New("no paybridge bridge answers")

// ErrMalformedReply means that an answer was not a reply of the contract's
// shape; the error names the problem. A bridge never sends one: something
// else answers on the subject, or the two disagree on the contract.
var ErrMalformedReply = errors.New("not a paybridge reply")

// ReplyError is an error reply of the bridge. It unwraps to the
// *paybridge.Error with the reply's code and message, so errors.As gives
// those, and errors.Is matches the code's sentinel. Provider, PaymentID and
// RequestID are what the bridge echoed of the request; they are empty when
// the request failed validation.
type ReplyError struct {
	Err       *paybridge.Error
	Provider  string
	Account   string // "" for the default account
	PaymentID string
	RequestID string
}

func (e *ReplyError) Error() string { return "paybridge answered " + e.Err.Error() }

func (e *ReplyError) Unwrap() error { return e.Err }

// Permanent marks a handler's error as one that no redelivery will cure
// (an event the service can never apply): Subscribe then terminates the
// event, and JetStream never delivers it again, instead of asking for it
// later. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return "permanent: " + e.err.Error() }

func (e *permanentError) Unwrap() error { return e.err }

func isPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// malformed is an ErrMalformedReply naming the subject and the problem.
func malformed(subject, format string, args ...any) error {
	return fmt.Errorf("reply on %s: %w: %s", subject, ErrMalformedReply, fmt.Sprintf(format, args...))
}
