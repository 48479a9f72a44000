package coinbar_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers/coinbar"
)

func TestWebhookNeedsTheClientIDHeader(t *testing.T) {
	c, err := coinbar.New("https://sandbox.coinbar.io", "client-1")
	if err != nil {
		t.Fatal(err)
	}
	for header, want := range map[string]bool{"client-1": true, "client-2": false, "": false, "client-1 ": false} {
		r := httptest.NewRequest("POST", "/webhooks/coinbar", nil)
		if header != "" {
			r.Header.Set("SERVICE_CLIENT_ID", header)
		}
		if got := paybridge.WebhookAuthorized(c, r); got != want {
			t.Errorf("SERVICE_CLIENT_ID %q: authorized %t, want %t", header, got, want)
		}
	}
}

func TestWebhookPaymentID(t *testing.T) {
	c, err := coinbar.New("https://sandbox.coinbar.io", "client-1")
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.WebhookPaymentID([]byte(`{"payment_request_id_client":"order-1","status":"SUCCESS"}`))
	if err != nil || id != "order-1" {
		t.Fatalf("id %q, %v", id, err)
	}
	for body, want := range map[string]string{
		`{"status":"SUCCESS"}`:            "payment_request_id_client",
		`{"responseToken":"b64=="}`:       "responseToken",
		`[1]`:                             "JSON object",
		`{"payment_request_id_client":7}`: "JSON object",
	} {
		_, err := c.WebhookPaymentID([]byte(body))
		if paybridge.ErrorCode(err) != paybridge.CodeInvalidRequest || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", body, err)
		}
	}
}
