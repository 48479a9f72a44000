package muvinai_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers/muvinai"
)

func TestWebhookNeedsTheToken(t *testing.T) {
	with, err := muvinai.New("https://api.simplefi.tech", "key", muvinai.WithWebhookToken("tok"))
	if err != nil {
		t.Fatal(err)
	}
	without, err := muvinai.New("https://api.simplefi.tech", "key")
	if err != nil {
		t.Fatal(err)
	}
	for url, want := range map[string]bool{"/webhooks/muvinai?token=tok": true, "/webhooks/muvinai?token=other": false, "/webhooks/muvinai": false} {
		r := httptest.NewRequest("POST", url, nil)
		if got := paybridge.WebhookAuthorized(with, r); got != want {
			t.Errorf("%s: authorized %t, want %t", url, got, want)
		}
		if paybridge.WebhookAuthorized(without, r) {
			t.Errorf("%s: authorized without a configured token", url)
		}
	}
}

func TestWebhookPaymentID(t *testing.T) {
	c, err := muvinai.New("https://api.simplefi.tech", "key", muvinai.WithWebhookToken("tok"))
	if err != nil {
		t.Fatal(err)
	}
	for body, want := range map[string]string{
		`{"data":{"payment_request":{"id":"pr_1"}},"entity_id":"other"}`: "pr_1",
		`{"entity_type":"payment_request","entity_id":"pr_2"}`:           "pr_2",
	} {
		if id, err := c.WebhookPaymentID([]byte(body)); err != nil || id != want {
			t.Errorf("%s: %q, %v", body, id, err)
		}
	}
	for body, want := range map[string]string{
		`{"event_type":"new_payment"}`:                "no payment id",
		`{"entity_type":"merchant","entity_id":"m1"}`: "entity_type",
		`{"entity_id":42}`:                            "not a Muvinai notification",
	} {
		_, err := c.WebhookPaymentID([]byte(body))
		if paybridge.ErrorCode(err) != paybridge.CodeInvalidRequest || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", body, err)
		}
	}
}
