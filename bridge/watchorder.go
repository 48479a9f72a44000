package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// watchOrder is the durable message of one watch, on
// <WatchSubject>.<key>, or of one webhook trigger, on <…>.<key>.trigger.
type watchOrder struct {
	Provider  string    `json:"provider"`
	Account   string    `json:"account,omitempty"` // "" for the default account
	PaymentID string    `json:"payment_id"`
	Since     time.Time `json:"since"`
	Deadline  time.Time `json:"deadline"`
	// Trigger names what asked for an immediate check: a webhook, which
	// becomes a watch when the payment is not settled, or a recheck.
	Trigger string `json:"trigger,omitempty"`
}

// payment is the payment the order is about.
func (o watchOrder) payment() Payment {
	return Payment{Provider: o.Provider, Account: o.Account, ID: o.PaymentID}
}

// What a trigger comes from.
const (
	triggerWebhook = "webhook"
	// triggerRecheck asks once more about a payment whose check was
	// compared with a record already replaced (view.follow).
	triggerRecheck = "recheck"
)

// clockSkew is how far another instance's clock may run ahead of ours: an
// order it stamped may end that much later than one we would stamp.
const clockSkew = time.Minute

// decodeWatchOrder reads a delivered order as strictly as a check request:
// anyone allowed to publish on the watch subjects could have written it,
// and an order acted on builds KV keys and provider URLs. The order must
// be for a configured provider and a valid payment id, sit on its own
// subject, and end no later than a watch begun now would.
func (w *watcher) decodeWatchOrder(subject string, data []byte, now time.Time) (watchOrder, error) {
	var o watchOrder
	if err := decodeOneJSON(data, &o); err != nil {
		return o, fmt.Errorf("not a watch order: %v", err)
	}
	if !w.merchants.served(o.Provider) {
		return o, fmt.Errorf("provider %s is not configured", quoted(o.Provider))
	}
	if _, err := validAccount([]byte(o.Account)); err != nil {
		return o, err
	}
	if _, err := validPaymentID([]byte(o.PaymentID)); err != nil {
		return o, err
	}
	want := w.subjectOf(o.payment())
	switch o.Trigger {
	case "":
	case triggerWebhook, triggerRecheck:
		want += ".trigger"
	default:
		return o, fmt.Errorf("unknown trigger %s", quoted(o.Trigger))
	}
	switch {
	case subject != want:
		return o, errors.New("the order is not on its payment's subject")
	case o.Since.IsZero() || o.Deadline.Before(o.Since):
		return o, errors.New("the order has no valid since and deadline")
	case o.Deadline.After(now.Add(w.deadline + clockSkew)):
		return o, fmt.Errorf("the order's deadline %s is later than a watch begun now would end", o.Deadline.Format(time.RFC3339))
	}
	return o, nil
}

// errMoreJSON is decodeOneJSON's error for bytes after the value.
var errMoreJSON = errors.New("more after the JSON value")

// decodeOneJSON decodes data, which must hold one JSON value and nothing
// but white space after it, into v, refusing object members v does not
// have.
func decodeOneJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errMoreJSON
	}
	return nil
}
