package providers

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/paybridge/paybridge"
)

// This file holds the checks both provider clients make on what they put
// into a request, so a bad configuration or payment id is refused with the
// same words before anything is sent.

// ParseBaseURL checks a provider's configured base URL and returns it
// without a trailing slash, ready for a path to be appended. It refuses
// anything that would send requests somewhere other than the host named or
// put credentials on the wire: another scheme, no host, user info, a query
// or a fragment. Its errors never repeat the URL, which may hold a password.
func ParseBaseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", errors.New("base URL is not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("base URL must be an absolute http or https URL, got scheme %q", u.Scheme)
	case u.Host == "":
		return "", errors.New("base URL has no host")
	case u.User != nil:
		return "", errors.New("base URL must not carry credentials")
	case u.RawQuery != "" || u.Fragment != "":
		return "", errors.New("base URL must not have a query or fragment")
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// CheckPaymentID refuses, as invalid_request, a payment id that cannot be
// sent as one URL path segment: "" names no payment, and "." and ".." would
// be resolved away by the server and name another resource.
func CheckPaymentID(id string) error {
	switch id {
	case "":
		return paybridge.Errorf(paybridge.CodeInvalidRequest, "payment id must not be empty")
	case ".", "..":
		return paybridge.Errorf(paybridge.CodeInvalidRequest, "payment id %q cannot be sent as a URL path segment", id)
	}
	return nil
}

// ValidHeaderValue reports whether v can be sent as an HTTP header value:
// no control characters, so a configured credential cannot smuggle in a
// header of its own with CR LF. It is checked when a client is built rather
// than failing every request later.
func ValidHeaderValue(v string) bool {
	for _, r := range v {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return true
}
