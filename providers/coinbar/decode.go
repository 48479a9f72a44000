package coinbar

import (
	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/internal/jsonscan"
	"github.com/paybridge/paybridge/providers"
)

// statusFields are the members of the status API's 200 answer that are
// used, as read from the body (slices of it, until copied).
type statusFields struct {
	paymentRequestIDClient    []byte
	hasPaymentRequestIDClient bool
	status                    []byte
	statusDescr               []byte
	detail                    detailFields
	inputCoin                 []byte
	updateTime                []byte
}

// detailFields are payment_detail's members, zero when it is absent or
// null.
type detailFields struct {
	present           bool
	destinationCoin   []byte
	destinationAmount providers.RawAmount
	totalPrice        providers.RawAmount
}

var (
	statusNames = []string{"payment_request_id_client", "status", "status_descr", "payment_detail", "input_coin", "update_time"}
	detailNames = []string{"destination_coin", "destination_amount", "total_price"}
)

// detailType is what a payment_detail that is not an object is said to
// be wanted as: the name encoding/json gave the struct it decoded the
// member into, so that the error reads as it always has.
const detailType = "coinbar.paymentDetail"

// decodeStatus turns a 200 body into a Result, refusing a body that lies:
// wrong types, no status, bad amounts or times, text over its cap, or
// another payment's id. It reads the members used and skips the rest, by
// encoding/json's rules (providers.BodyDecoder).
func decodeStatus(paymentID string, body []byte) (paybridge.Result, error) {
	var b statusFields
	d := providers.NewBodyDecoder(Name, body)
	detailMember := func(key []byte) error {
		switch providers.Member(key, detailNames...) {
		case "destination_coin":
			return d.String("payment_detail.destination_coin", &b.detail.destinationCoin)
		case "destination_amount":
			return d.Amount(&b.detail.destinationAmount)
		case "total_price":
			return d.Amount(&b.detail.totalPrice)
		}
		return d.Skip()
	}
	err := d.Walk(func(key []byte) error {
		switch providers.Member(key, statusNames...) {
		case "payment_request_id_client":
			return d.OptionalString("payment_request_id_client", &b.paymentRequestIDClient, &b.hasPaymentRequestIDClient)
		case "status":
			return d.String("status", &b.status)
		case "status_descr":
			return d.String("status_descr", &b.statusDescr)
		case "input_coin":
			return d.String("input_coin", &b.inputCoin)
		case "update_time":
			return d.String("update_time", &b.updateTime)
		case "payment_detail":
			switch d.Kind() {
			case jsonscan.Null: // as a nil *paymentDetail
				b.detail = detailFields{}
				return d.Null()
			case jsonscan.Object: // a second one adds to the first
				b.detail.present = true
				return d.Members(detailMember)
			}
			return d.WrongType("payment_detail", detailType)
		}
		return d.Skip()
	})
	if err != nil {
		return paybridge.Result{}, err
	}

	var r paybridge.Result
	var id, updateTime string
	providers.SetStrings(
		providers.Text{To: &r.ProviderStatus, From: b.status},
		providers.Text{To: &r.ProviderStatusDetail, From: b.statusDescr},
		providers.Text{To: &r.Currency, From: b.inputCoin},
		providers.Text{To: &r.CryptoCurrency, From: b.detail.destinationCoin},
		providers.Text{To: &r.Amount, From: b.detail.totalPrice.Text()},
		providers.Text{To: &r.CryptoAmount, From: b.detail.destinationAmount.Text()},
		providers.Text{To: &id, From: b.paymentRequestIDClient},
		providers.Text{To: &updateTime, From: b.updateTime},
	)
	if err := providers.CheckLengths(Name,
		providers.Capped{Field: "status", Value: r.ProviderStatus, Limit: providers.MaxStatusLen},
		providers.Capped{Field: "status_descr", Value: r.ProviderStatusDetail, Limit: providers.MaxDetailLen},
		providers.Capped{Field: "input_coin", Value: r.Currency, Limit: providers.MaxCurrencyLen},
		providers.Capped{Field: "payment_detail.destination_coin", Value: r.CryptoCurrency, Limit: providers.MaxCurrencyLen},
	); err != nil {
		return paybridge.Result{}, err
	}
	if r.ProviderStatus == "" {
		return paybridge.Result{}, badResponse("the body has no status")
	}
	var gotID *string
	if b.hasPaymentRequestIDClient {
		gotID = &id
	}
	if err := providers.SamePayment(Name, "payment_request_id_client", gotID, paymentID); err != nil {
		return paybridge.Result{}, err
	}
	if b.detail.present {
		if err := providers.CheckAmount(Name, "payment_detail.total_price", b.detail.totalPrice); err != nil {
			return paybridge.Result{}, err
		}
		if err := providers.CheckAmount(Name, "payment_detail.destination_amount", b.detail.destinationAmount); err != nil {
			return paybridge.Result{}, err
		}
	}
	updated, err := providers.ParseTime(Name, "update_time", updateTime)
	if err != nil {
		return paybridge.Result{}, err
	}
	r.Status = Normalize(r.ProviderStatus, r.ProviderStatusDetail)
	r.UpdatedAt = updated
	return r, nil
}

// badResponse is providers.BadResponse for CoinbarPay.
func badResponse(format string, args ...any) error {
	return providers.BadResponse(Name, format, args...)
}
