package muvinai

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
)

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

// decodeStatus turns a 200 body into a Result, refusing a body that lies:
// wrong types, no status, bad amounts or times, text over its cap, or
// another payment's id.
func decodeStatus(paymentID string, body []byte) (paybridge.Result, error) {
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

// validationDetail summarizes a FastAPI-style 422 body,
// {"detail": [{"loc": [...], "msg": "..."}]}, as "loc: msg; …", unquoted
// and whole: the caller blanks out credentials before cutting and quoting.
func validationDetail(body []byte) string {
	var v struct {
		Detail []struct {
			Loc []any  `json:"loc"`
			Msg string `json:"msg"`
		} `json:"detail"`
	}
	if json.Unmarshal(body, &v) != nil || len(v.Detail) == 0 {
		return ""
	}
	parts := make([]string, 0, len(v.Detail))
	for _, d := range v.Detail {
		loc := make([]string, len(d.Loc))
		for i, l := range d.Loc {
			loc[i] = fmt.Sprint(l)
		}
		parts = append(parts, strings.Join(loc, ".")+": "+d.Msg)
	}
	return strings.Join(parts, "; ")
}

// badResponse is providers.BadResponse for Muvinai.
func badResponse(format string, args ...any) error {
	return providers.BadResponse(Name, format, args...)
}
