// Package events is paybridge's CloudEvent: building it from a status
// change, encoding it for NATS in the binary or structured content mode, and
// decoding it for Go subscribers.
//
// The event is sdk-go's CloudEvent model (github.com/cloudevents/sdk-go/v2/event),
// which checks its attributes; the structured mode is sdk-go's JSON event
// format. The binary mode follows the CloudEvents NATS protocol binding:
// every attribute is a ce- header with a percent-encoded value and the body
// is the data JSON. ReadEnvelope tells the modes apart for Decode and for
// the bridge's intake alike. Amounts are decimal strings from end to end; the
// data JSON is carried as bytes and never passes through float64.
package events

import (
	"time"

	"github.com/paybridge/paybridge"
)

// The event types and the content types of the two content modes.
const (
	TypeStatusChanged = "io.paybridge.payment.status.changed.v1"
	TypeWatchExpired  = "io.paybridge.payment.watch.expired.v1"

	ContentTypeJSON        = "application/json"
	ContentTypeCloudEvents = "application/cloudevents+json"
)

// The dataschema of each event type: the $id of its data's JSON Schema
// (schemas/status-changed.json, schemas/watch-expired.json). They are
// written out here rather than taken from package schemas, which links a
// JSON Schema validator that no subscriber needs; a test holds them equal to
// the files' $id.
const (
	DataSchemaStatusChanged = "https://paybridge.dev/schemas/status-changed.json"
	DataSchemaWatchExpired  = "https://paybridge.dev/schemas/watch-expired.json"
)

// SourcePrefix begins every event's source; the provider's name follows.
const SourcePrefix = "urn:paybridge:provider:"

// StatusChanged is the data of both event types: the new status of a
// payment, or, for a watch-expired event, its last known status.
type StatusChanged struct {
	Provider string `json:"provider"`
	// Account is the merchant account of the payment; "" for the
	// provider's default account.
	Account   string           `json:"account,omitempty"`
	PaymentID string           `json:"payment_id"`
	Status    paybridge.Status `json:"status"`
	// PreviousStatus is nil on first sight; it is always present in JSON.
	PreviousStatus       *paybridge.Status `json:"previous_status"`
	Terminal             bool              `json:"terminal"`
	ProviderStatus       string            `json:"provider_status"`
	ProviderStatusDetail string            `json:"provider_status_detail,omitempty"`
	// Amounts are decimal strings exactly as the provider wrote them.
	Amount            string     `json:"amount,omitempty"`
	Currency          string     `json:"currency,omitempty"`
	AmountPaid        string     `json:"amount_paid,omitempty"`
	CryptoAmount      string     `json:"crypto_amount,omitempty"`
	CryptoCurrency    string     `json:"crypto_currency,omitempty"`
	ProviderUpdatedAt *time.Time `json:"provider_updated_at,omitempty"`
	ObservedAt        time.Time  `json:"observed_at"`
	Revision          uint64     `json:"revision"`
	// Reason says why a watch ended before its payment settled; only a
	// watch-expired event has one: "deadline", or the provider's
	// permanent answer ("payment_not_found", "provider_auth_failed"), or
	// "unknown_account" when the watch's account was removed.
	Reason string `json:"reason,omitempty"`
}

// Event is one CloudEvent of paybridge. The extensions provider,
// paymentstatus and previousstatus are not fields: they are copies of Data's
// Provider, Status and PreviousStatus, written by Encode and checked by Decode.
type Event struct {
	ID         string // the deterministic event id; also the Nats-Msg-Id
	Type       string // TypeStatusChanged or TypeWatchExpired
	Source     string // SourcePrefix + provider
	Subject    string // the payment id
	Time       time.Time
	DataSchema string
	Data       StatusChanged
	// TraceParent and TraceState are the CloudEvents distributed-tracing
	// extension: the W3C trace context of the check that caused the
	// event, so that a subscriber can continue its trace. Empty when the
	// event was made outside any trace.
	TraceParent string
	TraceState  string
}

// NewStatusChanged builds the event announcing the status change d. Its
// time is d.ObservedAt, normalized (in Data too) to UTC without a monotonic
// clock reading, so that a decoded event equals the one built here.
func NewStatusChanged(id string, d StatusChanged) Event {
	return newEvent(id, TypeStatusChanged, DataSchemaStatusChanged, d)
}

// NewWatchExpired builds the event saying that the watch of a payment ran
// out before a terminal status; d is the last known status.
func NewWatchExpired(id string, d StatusChanged) Event {
	return newEvent(id, TypeWatchExpired, DataSchemaWatchExpired, d)
}

func newEvent(id, typ, schema string, d StatusChanged) Event {
	d.ObservedAt = d.ObservedAt.UTC().Round(0)
	return Event{
		ID:         id,
		Type:       typ,
		Source:     SourcePrefix + d.Provider,
		Subject:    d.PaymentID,
		Time:       d.ObservedAt,
		DataSchema: schema,
		Data:       d,
	}
}
