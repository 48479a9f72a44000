package muvinai

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
)

// statusFields are the members of a payment request's 200 answer that
// are used, as read from the body (slices of it, until copied).
type statusFields struct {
	id           []byte
	hasID        bool
	status       []byte
	statusDetail []byte
	amount       providers.RawAmount
	amountPaid   providers.RawAmount
	currency     []byte
	lastModified []byte
}

var statusNames = []string{"id", "status", "status_detail", "amount", "amount_paid", "currency", "last_modified"}

// decodeStatus turns a 200 body into a Result, refusing a body that lies:
// wrong types, no status, bad amounts or times, text over its cap, or
// another payment's id. It reads the members used and skips the rest (a
// payment request has dozens), by encoding/json's rules
// (providers.BodyDecoder).
func decodeStatus(paymentID string, body []byte) (paybridge.Result, error) {
	var b statusFields
	d := providers.NewBodyDecoder(Name, body)
	err := d.Walk(func(key []byte) error {
		switch providers.Member(key, statusNames...) {
		case "id":
			return d.OptionalString("id", &b.id, &b.hasID)
		case "status":
			return d.String("status", &b.status)
		case "status_detail":
			return d.String("status_detail", &b.statusDetail)
		case "amount":
			return d.Amount(&b.amount)
		case "amount_paid":
			return d.Amount(&b.amountPaid)
		case "currency":
			return d.String("currency", &b.currency)
		case "last_modified":
			return d.String("last_modified", &b.lastModified)
		}
		return d.Skip()
	})
	if err != nil {
		return paybridge.Result{}, err
	}

	var r paybridge.Result
	var id, lastModified string
	providers.SetStrings(
		providers.Text{To: &r.ProviderStatus, From: b.status},
		providers.Text{To: &r.ProviderStatusDetail, From: b.statusDetail},
		providers.Text{To: &r.Currency, From: b.currency},
		providers.Text{To: &r.Amount, From: b.amount.Text()},
		providers.Text{To: &r.AmountPaid, From: b.amountPaid.Text()},
		providers.Text{To: &id, From: b.id},
		providers.Text{To: &lastModified, From: b.lastModified},
	)
	if err := providers.CheckLengths(Name,
		providers.Capped{Field: "status", Value: r.ProviderStatus, Limit: providers.MaxStatusLen},
		providers.Capped{Field: "status_detail", Value: r.ProviderStatusDetail, Limit: providers.MaxDetailLen},
		providers.Capped{Field: "currency", Value: r.Currency, Limit: providers.MaxCurrencyLen},
	); err != nil {
		return paybridge.Result{}, err
	}
	if r.ProviderStatus == "" {
		return paybridge.Result{}, badResponse("the body has no status")
	}
	var gotID *string
	if b.hasID {
		gotID = &id
	}
	if err := providers.SamePayment(Name, "id", gotID, paymentID); err != nil {
		return paybridge.Result{}, err
	}
	if err := providers.CheckAmount(Name, "amount", b.amount); err != nil {
		return paybridge.Result{}, err
	}
	if err := providers.CheckAmount(Name, "amount_paid", b.amountPaid); err != nil {
		return paybridge.Result{}, err
	}
	if r.UpdatedAt, err = providers.ParseTime(Name, "last_modified", lastModified); err != nil {
		return paybridge.Result{}, err
	}
	r.Status = Normalize(r.ProviderStatus, r.ProviderStatusDetail)
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
