package coinbar

import (
	"encoding/json"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
)

// The decoder decodeStatus replaced, kept as the reference
// FuzzDecodeStatus holds it to: encoding/json into the struct below, the
// amounts kept raw and read by providers.DecimalField.

// statusBody is the 200 answer of the status API, as far as it is used.
// Amounts stay raw JSON until decoded as exact decimals.
type statusBody struct {
	PaymentRequestIDClient *string        `json:"payment_request_id_client"`
	Status                 string         `json:"status"`
	StatusDescr            string         `json:"status_descr"`
	PaymentDetail          *paymentDetail `json:"payment_detail"`
	InputCoin              string         `json:"input_coin"`
	UpdateTime             string         `json:"update_time"`
}

type paymentDetail struct {
	DestinationCoin   string          `json:"destination_coin"`
	DestinationAmount json.RawMessage `json:"destination_amount"`
	TotalPrice        json.RawMessage `json:"total_price"`
}

// referenceDecodeStatus is the former decodeStatus, verbatim.
func referenceDecodeStatus(paymentID string, body []byte) (paybridge.Result, error) {
	var b statusBody
	if err := providers.DecodeJSON(Name, body, &b); err != nil {
		return paybridge.Result{}, err
	}
	var coin string
	if b.PaymentDetail != nil {
		coin = b.PaymentDetail.DestinationCoin
	}
	if err := providers.CheckLengths(Name,
		providers.Capped{Field: "status", Value: b.Status, Limit: providers.MaxStatusLen},
		providers.Capped{Field: "status_descr", Value: b.StatusDescr, Limit: providers.MaxDetailLen},
		providers.Capped{Field: "input_coin", Value: b.InputCoin, Limit: providers.MaxCurrencyLen},
		providers.Capped{Field: "payment_detail.destination_coin", Value: coin, Limit: providers.MaxCurrencyLen},
	); err != nil {
		return paybridge.Result{}, err
	}
	if b.Status == "" {
		return paybridge.Result{}, badResponse("the body has no status")
	}
	if err := providers.SamePayment(Name, "payment_request_id_client", b.PaymentRequestIDClient, paymentID); err != nil {
		return paybridge.Result{}, err
	}
	r := paybridge.Result{
		Status:               Normalize(b.Status, b.StatusDescr),
		ProviderStatus:       b.Status,
		ProviderStatusDetail: b.StatusDescr,
		Currency:             b.InputCoin,
		CryptoCurrency:       coin,
	}
	if d := b.PaymentDetail; d != nil {
		var err error
		if r.Amount, err = providers.DecimalField(Name, "payment_detail.total_price", d.TotalPrice); err != nil {
			return paybridge.Result{}, err
		}
		if r.CryptoAmount, err = providers.DecimalField(Name, "payment_detail.destination_amount", d.DestinationAmount); err != nil {
			return paybridge.Result{}, err
		}
	}
	updated, err := providers.ParseTime(Name, "update_time", b.UpdateTime)
	if err != nil {
		return paybridge.Result{}, err
	}
	r.UpdatedAt = updated
	return r, nil
}
