package paybridge

import (
	"strings"
	"time"
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
