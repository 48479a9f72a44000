package bridge

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/providers"
)

// maxWebhookBytes is the largest webhook body read (1 MiB).
const maxWebhookBytes = 1 << 20

// Webhooks returns the handler for provider webhooks, to mount at
// /webhooks/ on the bridge's HTTP listener:
//
//	POST /webhooks/coinbar            SERVICE_CLIENT_ID header = the client id
//	POST /webhooks/muvinai?token=…    token = the configured webhook token
//
// A webhook is only a trigger, never a source of status: it is answered
// 200 once a durable "check this payment now, then watch it" is stored in
// JetStream, and the status then comes from the provider's API.
func (b *Bridge) Webhooks() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhooks/coinbar", func(w http.ResponseWriter, r *http.Request) {
		b.webhook(w, r, "coinbar", sameSecret(r.Header.Get("SERVICE_CLIENT_ID"), b.cfg.CoinbarClientID), coinbarPaymentID)
	})
	mux.HandleFunc("POST /webhooks/muvinai", func(w http.ResponseWriter, r *http.Request) {
		b.webhook(w, r, "muvinai", sameSecret(r.URL.Query().Get("token"), b.cfg.MuvinaiWebhookToken), muvinaiPaymentID)
	})
	return mux
}

// sameSecret compares in constant time; an unset secret matches nothing.
func sameSecret(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// webhook authenticates, reads the payment id with paymentID and stores
// the trigger.
func (b *Bridge) webhook(w http.ResponseWriter, r *http.Request, provider string, authorized bool, paymentID func([]byte) (string, error)) {
	outcome := "stored"
	defer func() { b.metrics.webhooks.WithLabelValues(provider, outcome).Inc() }()
	if !authorized {
		outcome = "unauthorized"
		writeWebhook(w, http.StatusUnauthorized, map[string]any{"error": "unauthorized"})
		return
	}
	if _, ok := b.checker.providers[provider]; !ok || !b.started.Load() {
		outcome = "unavailable"
		writeWebhook(w, http.StatusServiceUnavailable, map[string]any{"error": provider + " is not enabled on this bridge"})
		return
	}
	if !events.IsJSONMediaType(r.Header.Get("Content-Type")) {
		outcome = "bad_request"
		writeWebhook(w, http.StatusUnsupportedMediaType, map[string]any{"error": "Content-Type must be JSON (application/json)"})
		return
	}
	body, err := readWebhookBody(w, r)
	var id string
	if err == nil {
		id, err = paymentID(body)
	}
	if err == nil {
		_, err = validPaymentID([]byte(id))
	}
	if err != nil {
		outcome = "bad_request"
		writeWebhook(w, http.StatusBadRequest, map[string]any{"error": paybridge.ErrorMessage(err)})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := b.checker.watcher.trigger(ctx, provider, id, triggerWebhook); err != nil {
		outcome = "unavailable"
		b.cfg.Logger.Error("webhook trigger not stored", "provider", provider, "payment_id", id, "error", err)
		writeWebhook(w, http.StatusServiceUnavailable, map[string]any{"error": "could not store the trigger; retry"})
		return
	}
	b.cfg.Logger.Info("webhook trigger stored", "provider", provider, "payment_id", id)
	writeWebhook(w, http.StatusOK, map[string]any{"accepted": true, "provider": provider, "payment_id": id})
}

// readWebhookBody reads one JSON value of at most maxWebhookBytes, with
// nothing but white space after it.
func readWebhookBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, paybridge.Errorf(paybridge.CodeInvalidRequest, "body larger than %d bytes", maxWebhookBytes)
	case err != nil:
		return nil, paybridge.Errorf(paybridge.CodeInvalidRequest, "body could not be read")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, paybridge.Errorf(paybridge.CodeInvalidRequest, "body is not JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, paybridge.Errorf(paybridge.CodeInvalidRequest, "body has more after the JSON value")
	}
	return raw, nil
}

// coinbarPaymentID reads a CoinbarPay callback: the status response's
// shape, naming the payment in payment_request_id_client.
func coinbarPaymentID(body []byte) (string, error) {
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

// muvinaiPaymentID reads a Muvinai (SimpleFi) notification:
// {id, event_type, entity_type, entity_id, data: {payment_request: {id, …}}}.
func muvinaiPaymentID(body []byte) (string, error) {
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

func writeWebhook(w http.ResponseWriter, status int, body map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}
