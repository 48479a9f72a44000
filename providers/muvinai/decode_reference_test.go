package muvinai

import (
	"encoding/json"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
)

// The decoder decodeStatus replaced, kept as the reference
// FuzzDecodeStatus holds it to: encoding/json into the struct below, the
// amounts kept raw and read by providers.DecimalField.

// statusBody is the 200 answer for a payment request, as far as it is
// used. Amounts stay raw JSON until decoded as exact decimals.
type statusBody struct {
	ID           *string         `json:"id"`
	Status       string          `json:"status"`
	StatusDetail string          `json:"status_detail"`
	Amount       json.RawMessage `json:"amount"`
	AmountPaid   json.RawMessage `json:"amount_paid"`
	Currency     string          `json:"currency"`
	LastModified string          `json:"last_modified"`
}

// referenceDecodeStatus is the former decodeStatus, verbatim.
func referenceDecodeStatus(paymentID string, body []byte) (paybridge.Result, error) {
	var b statusBody
	if err := providers.DecodeJSON(Name, body, &b); err != nil {
		return paybridge.Result{}, err
	}
	if err := providers.CheckLengths(Name,
		providers.Capped{Field: "status", Value: b.Status, Limit: providers.MaxStatusLen},
		providers.Capped{Field: "status_detail", Value: b.StatusDetail, Limit: providers.MaxDetailLen},
		providers.Capped{Field: "currency", Value: b.Currency, Limit: providers.MaxCurrencyLen},
	); err != nil {
		return paybridge.Result{}, err
	}
	if b.Status == "" {
		return paybridge.Result{}, badResponse("the body has no status")
	}
	if err := providers.SamePayment(Name, "id", b.ID, paymentID); err != nil {
		return paybridge.Result{}, err
	}
	r := paybridge.Result{
		Status:               Normalize(b.Status, b.StatusDetail),
		ProviderStatus:       b.Status,
		ProviderStatusDetail: b.StatusDetail,
		Currency:             b.Currency,
	}
	var err error
	if r.Amount, err = providers.DecimalField(Name, "amount", b.Amount); err != nil {
		return paybridge.Result{}, err
	}
	if r.AmountPaid, err = providers.DecimalField(Name, "amount_paid", b.AmountPaid); err != nil {
		return paybridge.Result{}, err
	}
	if r.UpdatedAt, err = providers.ParseTime(Name, "last_modified", b.LastModified); err != nil {
		return paybridge.Result{}, err
	}
	return r, nil
}
