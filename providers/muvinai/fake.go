package muvinai

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"hash/fnv"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paybridge/paybridge/providers/fake"
)

// Fake is a Muvinai payment request API for tests and the simulator: a
// fake.Engine speaking Muvinai's paths, credentials and body shapes.
// Mount it at PathPrefix or serve it with NewServer.
type Fake struct {
	*fake.Engine
}

// NewFake returns a fake that accepts "Authorization: Bearer <apiKey>".
func NewFake(apiKey string, opts ...fake.Option) (*Fake, error) {
	if apiKey == "" {
		return nil, errors.New("muvinai fake: api key must not be empty")
	}
	want := []byte("Bearer " + apiKey)
	e, err := fake.New(fake.Dialect{
		PaymentID: paymentIDFromPath,
		Authorized: func(r *http.Request) bool {
			return subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) == 1
		},
		Render:    render,
		ErrorBody: errorBody,
	}, opts...)
	if err != nil {
		return nil, err
	}
	return &Fake{Engine: e}, nil
}

func paymentIDFromPath(escapedPath string) (string, bool) {
	segment, ok := strings.CutPrefix(escapedPath, PathPrefix)
	if !ok || segment == "" || strings.Contains(segment, "/") {
		return "", false
	}
	id, err := url.PathUnescape(segment)
	return id, err == nil
}

// wireTime is how the docs' samples write times: "2025-08-30T20:38:30.887Z".
const wireTime = "2006-01-02T15:04:05.000Z"

// paymentLifetime is how long after creation a fake payment request expires.
const paymentLifetime = 30 * time.Minute

type wirePaymentRequest struct {
	ID              string      `json:"id"`
	OrderID         uint32      `json:"order_id"`
	Amount          json.Number `json:"amount"`
	AmountPaid      json.Number `json:"amount_paid"`
	Currency        string      `json:"currency"`
	Items           []struct{}  `json:"items"`
	Reference       struct{}    `json:"reference"`
	Memo            string      `json:"memo"`
	NotificationURL *string     `json:"notification_url"`
	Status          string      `json:"status"`
	StatusDetail    *string     `json:"status_detail"`
	ApprovedAt      *string     `json:"approved_at"`
	ExpirationTime  string      `json:"expiration_time"`
	Delivered       bool        `json:"delivered"`
	Transactions    []struct{}  `json:"transactions"`
	Payments        []struct{}  `json:"payments"`
	MerchantID      string      `json:"merchant_id"`
	DateCreated     string      `json:"date_created"`
	LastModified    string      `json:"last_modified"`
	CheckoutURL     string      `json:"checkout_url"`
	Conflict        bool        `json:"conflict"`
}

// render writes the documented 200 body; amounts are raw JSON numbers with
// exactly the payment's text, and an empty detail is null.
func render(s fake.State) ([]byte, error) {
	p := s.Payment
	w := wirePaymentRequest{
		ID:             p.ID,
		OrderID:        orderID(p.ID),
		Amount:         json.Number(p.Amount),
		AmountPaid:     json.Number("0"),
		Currency:       p.Currency,
		Items:          []struct{}{},
		Status:         s.Step.Status,
		ExpirationTime: p.CreatedAt.Add(paymentLifetime).UTC().Format(wireTime),
		Transactions:   []struct{}{},
		Payments:       []struct{}{},
		MerchantID:     "paysim-merchant",
		DateCreated:    p.CreatedAt.UTC().Format(wireTime),
		LastModified:   s.Since.UTC().Format(wireTime),
		CheckoutURL:    "https://checkout.invalid/payment_requests/" + url.PathEscape(p.ID),
	}
	if s.Step.AmountPaid != "" {
		w.AmountPaid = json.Number(s.Step.AmountPaid)
	}
	if s.Step.Detail != "" {
		w.StatusDetail = &s.Step.Detail
	}
	if strings.EqualFold(s.Step.Status, "approved") {
		at := s.Since.UTC().Format(wireTime)
		w.ApprovedAt = &at
	}
	return json.Marshal(w)
}

// orderID derives the merchant's numeric order id from the payment id.
func orderID(id string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return h.Sum32() % 1_000_000
}

// errorBody is Muvinai's (FastAPI's) error shape: {"detail": "…"}.
func errorBody(status int) []byte {
	text := http.StatusText(status)
	switch status {
	case http.StatusUnauthorized:
		text = "Invalid token"
	case http.StatusNotFound:
		text = "Not found"
	}
	b, _ := json.Marshal(map[string]string{"detail": text})
	return b
}
