package paybridge

import (
	"crypto/subtle"
	"net/http"
)

// WebhookReceiver is implemented by a Provider whose service calls back
// when a payment changes. A callback is only a trigger: the bridge then
// asks the provider's status API and never takes the callback's body for
// the status (docs/contract.md, "Webhooks").
type WebhookReceiver interface {
	// WebhookCredential returns what a callback presents to prove which
	// merchant account it comes from (a header, a token in its URL), ""
	// when nothing. It is asked before the body is read.
	WebhookCredential(r *http.Request) string
	// WebhookSecret is the credential this client's account expects of
	// its callbacks; "" when it takes none, and then every callback is
	// refused.
	WebhookSecret() string
	// WebhookPaymentID returns the payment a callback's body, one JSON
	// value, names. Its error says what is wrong with the body, as an
	// *Error with CodeInvalidRequest, without quoting much of it.
	WebhookPaymentID(body []byte) (string, error)
}

// WebhookAuthorized reports whether a callback carries the credential of
// recv's account, comparing in constant time.
func WebhookAuthorized(recv WebhookReceiver, r *http.Request) bool {
	return SameSecret(recv.WebhookCredential(r), recv.WebhookSecret())
}

// SameSecret compares a presented credential with the expected one in
// constant time; an empty expected secret matches nothing.
func SameSecret(presented, expected string) bool {
	return expected != "" && subtle.ConstantTimeCompare([]byte(presented), []byte(expected)) == 1
}
