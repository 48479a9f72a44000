package bridge

import (
	"time"

	"github.com/paybridge/paybridge"
)

// replyFromRecord describes a stored record as the change it records.
func replyFromRecord(rec Record, source string, checkedAt time.Time) paybridge.Reply {
	return paybridge.Reply{
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
func replyUnchanged(rec Record, source string, checkedAt time.Time) paybridge.Reply {
	rep := replyFromRecord(rec, source, checkedAt)
	status := rec.Status
	rep.PreviousStatus = &status
	rep.EventID = ""
	return rep
}

// newErrorReply describes err for the caller; only vetted messages of a
// *paybridge.Error reach it, never a library's words.
func newErrorReply(err error, provider, paymentID, requestID string) paybridge.ErrorReply {
	code := paybridge.ErrorCode(err)
	return paybridge.ErrorReply{
		Error:     paybridge.ErrorBody{Code: code, Message: paybridge.ErrorMessage(err), Retryable: code.Retryable()},
		Provider:  provider,
		PaymentID: paymentID,
		RequestID: requestID,
	}
}
