package coinbar

import (
	"encoding/json"
	"net/http"

	"github.com/paybridge/paybridge"
)

var _ paybridge.WebhookReceiver = (*Client)(nil)

// WebhookCredential implements paybridge.WebhookReceiver: CoinbarPay's
// callback carries the SERVICE_CLIENT_ID header, the client id of the
// merchant account it is for.
func (c *Client) WebhookCredential(r *http.Request) string { return r.Header.Get("SERVICE_CLIENT_ID") }

// WebhookSecret implements paybridge.WebhookReceiver: the client id this
// client authenticates as.
func (c *Client) WebhookSecret() string { return c.clientID }

// WebhookPaymentID implements paybridge.WebhookReceiver: a CoinbarPay
// callback has the status response's shape and names the payment in
// payment_request_id_client. The encrypted responseToken callback of
// Coinbar's shop plugins is refused: docs/providers.md, "CoinbarPay callbacks".
func (c *Client) WebhookPaymentID(body []byte) (string, error) {
	var cb struct {
		PaymentRequestIDClient *string `json:"payment_request_id_client"`
		ResponseToken          *string `json:"responseToken"`
	}
	if err := json.Unmarshal(body, &cb); err != nil {
		return "", paybridge.Errorf(paybridge.CodeInvalidRequest, "body is not a JSON object with a string payment_request_id_client")
	}
	switch {
	case cb.PaymentRequestIDClient != nil && *cb.PaymentRequestIDClient != "":
		return *cb.PaymentRequestIDClient, nil
	case cb.ResponseToken != nil:
		return "", paybridge.Errorf(paybridge.CodeInvalidRequest, "encrypted responseToken callbacks are not supported: the body must carry payment_request_id_client")
	}
	return "", paybridge.Errorf(paybridge.CodeInvalidRequest, "no payment_request_id_client in the body")
}
