package bridge

import (
	"time"

	"github.com/paybridge/paybridge/providers"
)

// Where a reply's status came from.
const (
	SourceProvider = "provider" // the provider was asked now
	SourceStore    = "store"    // answered from the stored record
)

// Reply answers a check or a status lookup (schemas/check-reply.json).
type Reply struct {
	Provider             string            `json:"provider"`
	PaymentID            string            `json:"payment_id"`
	RequestID            string            `json:"request_id,omitempty"`
	Status               providers.Status  `json:"status"`
	PreviousStatus       *providers.Status `json:"previous_status"`
	Changed              bool              `json:"changed"`
	Terminal             bool              `json:"terminal"`
	ProviderStatus       string            `json:"provider_status"`
	ProviderStatusDetail string            `json:"provider_status_detail,omitempty"`
	Amount               string            `json:"amount,omitempty"`
	Currency             string            `json:"currency,omitempty"`
	AmountPaid           string            `json:"amount_paid,omitempty"`
	CryptoAmount         string            `json:"crypto_amount,omitempty"`
	CryptoCurrency       string            `json:"crypto_currency,omitempty"`
	ProviderUpdatedAt    *time.Time        `json:"provider_updated_at,omitempty"`
	CheckedAt            time.Time         `json:"checked_at"`
	Revision             uint64            `json:"revision"`
	EventID              string            `json:"event_id,omitempty"`
	Source               string            `json:"source"`
	Stale                bool              `json:"stale"`
	Watching             bool              `json:"watching"`
}

// ErrorReply is the body of an error answer; the same code also travels in
// the Nats-Service-Error-Code header.
type ErrorReply struct {
	Error     ErrorBody `json:"error"`
	Provider  string    `json:"provider,omitempty"`
	PaymentID string    `json:"payment_id,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
}

// ErrorBody is the "error" member of an ErrorReply.
type ErrorBody struct {
	Code      providers.Code `json:"code"`
	Message   string         `json:"message"`
	Retryable bool           `json:"retryable"`
}

// replyFromRecord describes a stored record as the change it records.
func replyFromRecord(rec Record, source string, checkedAt time.Time) Reply {
	return Reply{
		Provider:             rec.Provider,
		PaymentID:            rec.PaymentID,
		Status:               rec.Status,
		PreviousStatus:       rec.PreviousStatus,
		Terminal:             rec.Terminal,
		ProviderStatus:       rec.ProviderStatus,
		ProviderStatusDetail: rec.ProviderStatusDetail,
		Amount:               rec.Amount,
		Currency:             rec.Currency,
		AmountPaid:           rec.AmountPaid,
		CryptoAmount:         rec.CryptoAmount,
		CryptoCurrency:       rec.CryptoCurrency,
		ProviderUpdatedAt:    rec.ProviderUpdatedAt,
		CheckedAt:            checkedAt,
		Revision:             rec.Revision,
		EventID:              rec.EventID,
		Source:               source,
	}
}

// replyUnchanged describes a stored record that this request did not
// change: previous_status is the status itself, and no event is named.
func replyUnchanged(rec Record, source string, checkedAt time.Time) Reply {
	rep := replyFromRecord(rec, source, checkedAt)
	status := rec.Status
	rep.PreviousStatus = &status
	rep.EventID = ""
	return rep
}

// newErrorReply describes err for the caller; only vetted messages of a
// *providers.Error reach it, never a library's words.
func newErrorReply(err error, provider, paymentID, requestID string) ErrorReply {
	code := providers.ErrorCode(err)
	return ErrorReply{
		Error:     ErrorBody{Code: code, Message: providers.ErrorMessage(err), Retryable: code.Retryable()},
		Provider:  provider,
		PaymentID: paymentID,
		RequestID: requestID,
	}
}
