package muvinai

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

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
// wrong types, no status, bad amounts or times, or another payment's id.
func decodeStatus(paymentID string, body []byte) (providers.Result, error) {
	var b statusBody
	if err := json.Unmarshal(body, &b); err != nil {
		return providers.Result{}, badJSON(err)
	}
	if b.Status == "" {
		return providers.Result{}, badResponse("the body has no status")
	}
	if b.ID != nil && *b.ID != paymentID {
		return providers.Result{}, badResponse("the body is about payment %q, not the one asked for", truncate(*b.ID, 80))
	}
	r := providers.Result{
		Status:               Normalize(b.Status, b.StatusDetail),
		ProviderStatus:       b.Status,
		ProviderStatusDetail: b.StatusDetail,
		Currency:             b.Currency,
	}
	var err error
	if r.Amount, err = decimal("amount", b.Amount); err != nil {
		return providers.Result{}, err
	}
	if r.AmountPaid, err = decimal("amount_paid", b.AmountPaid); err != nil {
		return providers.Result{}, err
	}
	if r.UpdatedAt, err = parseTime("last_modified", b.LastModified); err != nil {
		return providers.Result{}, err
	}
	return r, nil
}

// validationDetail summarizes a FastAPI-style 422 body,
// {"detail": [{"loc": [...], "msg": "..."}]}, as ": loc: msg; …".
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
	return ": " + truncate(strings.Join(parts, "; "), 200)
}

func badResponse(format string, args ...any) error {
	return providers.Errorf(providers.CodeProviderBadResponse, "muvinai: "+format, args...)
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
// without one (taken as UTC, as Python's isoformat writes naive times);
// fractional seconds optional in both.
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
