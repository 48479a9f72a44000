package paybridge

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The NATS subjects and stream of the contract (docs/contract.md, "NATS
// assets") by their default names. bridge.Config and the client's options
// may rename each; both start from these.
const (
	DefaultCheckSubject         = "payments.check"
	DefaultStatusSubject        = "payments.status.get"
	DefaultStatusChangedSubject = "payments.status.changed"
	DefaultWatchExpiredSubject  = "payments.watch.expired"
	DefaultEventStream          = "PAYMENT_EVENTS"
	// The durable intake: checks that must not be lost are published
	// there, with a PubAck, and taken by the bridge at its pace.
	DefaultQueuedCheckSubject = "payments.check.queued"
	DefaultCheckStream        = "PAYMENT_CHECKS"
)

// The bounds of a request's provider and payment_id, in bytes: the bridge
// refuses longer ones as invalid_request.
const (
	MaxProviderBytes  = 64
	MaxPaymentIDBytes = 256
)

// The bounds of a check request's request_id, in bytes, and of its
// max_age: the bridge refuses more as invalid_request.
const (
	MaxRequestIDBytes = 128
	MaxMaxAge         = 30 * 24 * time.Hour
)

// MaxAccountBytes bounds a merchant account's name (docs/contract.md,
// "Accounts").
const MaxAccountBytes = 64

// TextProblem says what keeps b from being a request's string field of
// minBytes to maxBytes bytes: UTF-8 without control characters (C0, DEL,
// C1); "" when nothing does. JSON would silently turn invalid UTF-8 into
// U+FFFD, another payment id than the one asked about.
func TextProblem(b []byte, minBytes, maxBytes int) string {
	switch {
	case minBytes == 0 && len(b) > maxBytes:
		return fmt.Sprintf("must be at most %d bytes, got %d", maxBytes, len(b))
	case len(b) < minBytes || len(b) > maxBytes:
		return fmt.Sprintf("must be %d to %d bytes, got %d", minBytes, maxBytes, len(b))
	}
	for i := 0; i < len(b); {
		r, size := rune(b[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return fmt.Sprintf("not valid UTF-8 at byte %d", i)
			}
		}
		if unicode.IsControl(r) {
			return fmt.Sprintf("contains control character %U at byte %d", r, i)
		}
		i += size
	}
	return ""
}

// PaymentIDProblem says what keeps b from being a payment id: TextProblem
// within MaxPaymentIDBytes, not only white space, and not a dot segment,
// since a provider's status URL has the id as a path segment, and "." or
// ".." would name another path however it is escaped. Every other id, "../x" or "a.b.*>" included, is
// valid and is encoded where it is used. "" when nothing keeps it.
func PaymentIDProblem(b []byte) string {
	if p := TextProblem(b, 1, MaxPaymentIDBytes); p != "" {
		return p
	}
	switch id := string(b); {
	case id == "." || id == "..":
		return fmt.Sprintf("%q is a dot segment, which cannot be put in a provider URL path", id)
	case strings.TrimSpace(id) == "":
		return "is only white space, which names no payment (nor can it be an event's subject)"
	}
	return ""
}

// AccountProblem says what keeps name from being a merchant account's name,
// 1 to 64 bytes of [A-Za-z0-9_-]: "" when nothing does. The name is a
// directory under --accounts-dir and a token of KV keys and subjects, so
// nothing else is allowed.
func AccountProblem(name string) string {
	if len(name) == 0 || len(name) > MaxAccountBytes {
		return "must be 1 to 64 bytes"
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return "may hold only letters, digits, _ and -"
		}
	}
	return ""
}

// SubjectProblem says what keeps s from being a literal NATS subject, one
// a request can be sent or an event published on: "" when nothing does.
func SubjectProblem(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return "must not contain white space or control characters"
	case s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, ".."):
		return "has an empty token"
	case strings.ContainsAny(s, "*>"):
		return "must not contain wildcards"
	}
	return ""
}
