package muvinai

import (
	"encoding/json"
	"net/http"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
)

var _ paybridge.WebhookReceiver = (*Client)(nil)

// WebhookCredential implements paybridge.WebhookReceiver: Muvinai
// documents no signature, so the notification URL carries a shared token
// (?token=…) of the merchant account it is for.
func (c *Client) WebhookCredential(r *http.Request) string { return r.URL.Query().Get("token") }

// WebhookSecret implements paybridge.WebhookReceiver: the token set with
// WithWebhookToken; without one every notification is refused.
func (c *Client) WebhookSecret() string { return c.webhookToken }

// WebhookPaymentID implements paybridge.WebhookReceiver: a Muvinai
// (SimpleFi) notification is {id, event_type, entity_type, entity_id,
// data: {payment_request: {id, …}}}; the payment is
// data.payment_request.id, or entity_id.
func (c *Client) WebhookPaymentID(body []byte) (string, error) {
	var n struct {
		EntityType *string `json:"entity_type"`
		EntityID   *string `json:"entity_id"`
		Data       *struct {
			PaymentRequest *struct {
				ID *string `json:"id"`
			} `json:"payment_request"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &n); err != nil {
		return "", paybridge.Errorf(paybridge.CodeInvalidRequest, "body is not a Muvinai notification: {entity_type, entity_id, data: {payment_request: {id}}} with string ids")
	}
	if n.Data != nil && n.Data.PaymentRequest != nil && n.Data.PaymentRequest.ID != nil && *n.Data.PaymentRequest.ID != "" {
		return *n.Data.PaymentRequest.ID, nil
	}
	if n.EntityType != nil && *n.EntityType != "payment_request" {
		return "", paybridge.Errorf(paybridge.CodeInvalidRequest, "entity_type %q is not payment_request", providers.Truncate(*n.EntityType, 40))
	}
	if n.EntityID != nil && *n.EntityID != "" {
		return *n.EntityID, nil
	}
	return "", paybridge.Errorf(paybridge.CodeInvalidRequest, "no payment id: neither data.payment_request.id nor entity_id")
}
