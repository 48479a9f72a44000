package paybridge

import "net/http"

// WebhookReceiver is implemented by a Provider whose service calls back
// when a payment changes. A callback is only a trigger: the bridge then
// asks the provider's status API and never takes the callback's body for
// the status (docs/contract.md, "Webhooks").
type WebhookReceiver interface {
	// WebhookAuthorized reports whether a callback carries the provider's
	// proof (a header, a token in its URL). It is asked before the body
	// is read, and must compare secrets in constant time.
	WebhookAuthorized(r *http.Request) bool
	// WebhookPaymentID returns the payment a callback's body, one JSON
	// value, names. Its error says what is wrong with the body, as an
	// *Error with CodeInvalidRequest, without quoting much of it.
	WebhookPaymentID(body []byte) (string, error)
}
