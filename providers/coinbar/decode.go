package coinbar

import (
	"encoding/json"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/paybridge/paybridge/providers"
)

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

// decodeStatus turns a 200 body into a Result, refusing a body that lies:
// wrong types, no status, bad amounts or times, or another payment's id.
func decodeStatus(paymentID string, body []byte) (providers.Result, error) {
	var b statusBody
	if err := json.Unmarshal(body, &b); err != nil {
		return providers.Result{}, badJSON(err)
	}
	if b.Status == "" {
		return providers.Result{}, badResponse("the body has no status")
	}
	if b.PaymentRequestIDClient != nil && *b.PaymentRequestIDClient != paymentID {
		return providers.Result{}, badResponse("the body is about payment %q, not the one asked for", truncate(*b.PaymentRequestIDClient, 80))
	}
	r := providers.Result{
		Status:               Normalize(b.Status, b.StatusDescr),
		ProviderStatus:       b.Status,
		ProviderStatusDetail: b.StatusDescr,
		Currency:             b.InputCoin,
	}
	if d := b.PaymentDetail; d != nil {
		var err error
		if r.Amount, err = decimal("payment_detail.total_price", d.TotalPrice); err != nil {
			return providers.Result{}, err
		}
		if r.CryptoAmount, err = decimal("payment_detail.destination_amount", d.DestinationAmount); err != nil {
			return providers.Result{}, err
		}
		r.CryptoCurrency = d.DestinationCoin
	}
	updated, err := parseTime("update_time", b.UpdateTime)
	if err != nil {
		return providers.Result{}, err
	}
	r.UpdatedAt = updated
	return r, nil
}

func badResponse(format string, args ...any) error {
	return providers.Errorf(providers.CodeProviderBadResponse, "coinbar: "+format, args...)
}

// badJSON names what was wrong with a body that did not decode.
func badJSON(err error) error {
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return badResponse("the body is a JSON %s, not an object", typeErr.Value)
	case errors.As(err, &typeErr):
		return badResponse("field %s is a JSON %s, want %s", typeErr.Field, typeErr.Value, typeErr.Type)
	}
	return badResponse("the body is not valid JSON: %v", err)
}

// decimal decodes an amount as its exact text; absent or null is "".
func decimal(field string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", nil
	}
	var d providers.Decimal
	if err := json.Unmarshal(raw, &d); err != nil {
		return "", badResponse("field %s: %v", field, err)
	}
	return string(d), nil
}

// timeLayouts are the ISO 8601 forms accepted: RFC 3339 with a zone, or
// without one (taken as UTC); fractional seconds optional in both.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"}

// parseTime reads a provider timestamp; absent is the zero time.
func parseTime(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, badResponse("field %s is %q, not an ISO 8601 time", field, truncate(v, 40))
}

// truncate shortens provider text for a message, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
