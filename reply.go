package paybridge

import "time"

// Where a reply's status came from.
const (
	SourceProvider = "provider" // the provider was asked now
	SourceStore    = "store"    // answered from the stored record
)

// Reply answers a check or a status lookup (schemas/check-reply.json).
type Reply struct {
	Provider             string     `json:"provider"`
	Account              string     `json:"account,omitempty"` // "" for the default account
	PaymentID            string     `json:"payment_id"`
	RequestID            string     `json:"request_id,omitempty"`
	Status               Status     `json:"status"`
	PreviousStatus       *Status    `json:"previous_status"`
	Changed              bool       `json:"changed"`
	Terminal             bool       `json:"terminal"`
	ProviderStatus       string     `json:"provider_status"`
	ProviderStatusDetail string     `json:"provider_status_detail,omitempty"`
	Amount               string     `json:"amount,omitempty"`
	Currency             string     `json:"currency,omitempty"`
	AmountPaid           string     `json:"amount_paid,omitempty"`
	CryptoAmount         string     `json:"crypto_amount,omitempty"`
	CryptoCurrency       string     `json:"crypto_currency,omitempty"`
	ProviderUpdatedAt    *time.Time `json:"provider_updated_at,omitempty"`
	CheckedAt            time.Time  `json:"checked_at"`
	Revision             uint64     `json:"revision"`
	EventID              string     `json:"event_id,omitempty"`
	Source               string     `json:"source"`
	Stale                bool       `json:"stale"`
	Watching             bool       `json:"watching"`
}

// ErrorReply is the body of an error answer. Its headers say the same: the
// code and message in Nats-Service-Error ("<code>: <message>"), the code's
// number (Code.HeaderCode) in Nats-Service-Error-Code.
type ErrorReply struct {
	Error     ErrorBody `json:"error"`
	Provider  string    `json:"provider,omitempty"`
	Account   string    `json:"account,omitempty"`
	PaymentID string    `json:"payment_id,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
}

// ErrorBody is the "error" member of an ErrorReply.
type ErrorBody struct {
	Code      Code   `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

// NewErrorBody describes err for the caller: its code, whether trying
// again may help, and its message as ErrorMessage vets it (only the
// message of an *Error is ever sent; any other cause stays in the logs).
func NewErrorBody(err error) ErrorBody {
	code := ErrorCode(err)
	return ErrorBody{Code: code, Message: ErrorMessage(err), Retryable: code.Retryable()}
}
