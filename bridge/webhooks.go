package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/internal/jsonscan"
	"github.com/paybridge/paybridge/providers"
)

// maxWebhookBytes is the largest webhook body read (1 MiB).
const maxWebhookBytes = 1 << 20

// Webhooks returns the handler for provider webhooks, to mount at
// /webhooks/ on the bridge's HTTP listener: POST /webhooks/<provider> for
// every provider that takes callbacks (paybridge.WebhookReceiver), which
// also says how a callback proves which merchant account it comes from
// and which payment it names.
//
// A webhook is only a trigger, never a source of status: it is answered
// 200 once a durable "check this payment now, then watch it" is stored in
// JetStream, and the status then comes from the provider's API.
func (b *Bridge) Webhooks() http.Handler {
	mux := http.NewServeMux()
	// Any other provider: one this bridge does not serve (docs/contract.md,
	// "Webhook answers"), so nothing can check the callback's credential.
	mux.HandleFunc("POST /webhooks/{provider}", func(w http.ResponseWriter, r *http.Request) {
		writeWebhook(w, http.StatusServiceUnavailable, map[string]any{
			"error": fmt.Sprintf("provider %q is not enabled on this bridge", providers.Truncate(r.PathValue("provider"), 40))})
	})
	for _, name := range b.checker.merchants.providers {
		if receiver := b.checker.merchants.receiver(name); receiver != nil {
			mux.HandleFunc("POST /webhooks/"+name, func(w http.ResponseWriter, r *http.Request) {
				b.webhook(w, r, name, receiver)
			})
		}
	}
	return mux
}

// webhook authenticates a callback as one of the provider's accounts,
// reads the payment it names and stores the trigger for that account.
func (b *Bridge) webhook(w http.ResponseWriter, r *http.Request, provider string, receiver paybridge.WebhookReceiver) {
	outcome := "stored"
	defer func() { b.metrics.webhooks.WithLabelValues(provider, outcome).Inc() }()
	account, ok, shared := b.checker.merchants.webhookAccount(provider, receiver.WebhookCredential(r))
	if shared != "" {
		b.cfg.Logger.Error("webhook refused: the default account and a merchant account share its credential; give each its own",
			"provider", provider, "account", shared)
	}
	if !ok {
		outcome = "unauthorized"
		writeWebhook(w, http.StatusUnauthorized, map[string]any{"error": "unauthorized"})
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
		id, err = receiver.WebhookPaymentID(body)
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
	pay := Payment{Provider: provider, Account: account, ID: id}
	if err := b.watcher.trigger(ctx, pay, triggerWebhook); err != nil {
		outcome = "unavailable"
		b.cfg.Logger.Error("webhook trigger not stored", "provider", provider, "account", account, "payment_id", id, "error", err)
		writeWebhook(w, http.StatusServiceUnavailable, map[string]any{"error": "could not store the trigger; retry"})
		return
	}
	b.cfg.Logger.Info("webhook trigger stored", "provider", provider, "account", account, "payment_id", id)
	reply := map[string]any{"accepted": true, "provider": provider, "payment_id": id}
	if account != "" {
		reply["account"] = account
	}
	writeWebhook(w, http.StatusOK, reply)
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
	// Strictly, as a check request is read: the providers' decoders
	// (encoding/json) would turn bytes that are not UTF-8 and lone UTF-16
	// surrogates into U+FFFD, and ask about an id nobody sent.
	if !utf8.Valid(body) {
		return nil, paybridge.Errorf(paybridge.CodeInvalidRequest, "body is not UTF-8")
	}
	s := jsonscan.New(body)
	if _, err := s.Skip(); err != nil {
		return nil, paybridge.Errorf(paybridge.CodeInvalidRequest, "body is %s", err)
	}
	if s.End() != nil {
		return nil, paybridge.Errorf(paybridge.CodeInvalidRequest, "body has more after the JSON value")
	}
	return body, nil
}

func writeWebhook(w http.ResponseWriter, status int, body map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}
