package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// watchOrder is the durable message of one watch: a schedule on
// <WatchSubject>.at.<key> while it waits, fired onto <WatchSubject>.<key>
// when its check is due; or of one webhook trigger, on <…>.<key>.trigger.
type watchOrder struct {
	Provider  string    `json:"provider"`
	Account   string    `json:"account,omitempty"` // "" for the default account
	PaymentID string    `json:"payment_id"`
	Since     time.Time `json:"since"`
	Deadline  time.Time `json:"deadline"`
	// Due is when a watch's check is due, by the clock of the instance
	// that stored the order, like since and deadline (its schedule fires
	// then by the server's clock: the instance knows how far the two are);
	// Rechecks counts the watch's checks before that one, and so which
	// step of the schedule follows it. They travel in headers
	// (dueHeader, rechecksHeader), which an instance of an earlier
	// version ignores: it checks a due watch as an order of its own and
	// naks it, where the next instance of this version finds it again. A
	// trigger has neither, nor has an order of a version before schedules.
	Due      time.Time `json:"-"`
	Rechecks int       `json:"-"`
	// Trigger names what asked for an immediate check: a webhook, which
	// becomes a watch when the payment is not settled, or a recheck.
	Trigger string `json:"trigger,omitempty"`
}

// payment is the payment the order is about.
func (o watchOrder) payment() Payment {
	return Payment{Provider: o.Provider, Account: o.Account, ID: o.PaymentID}
}

// next is the watch's order after a check made at now: due the
// schedule's step for it (the last step repeating) later, or at the
// deadline if that comes first.
func (o watchOrder) next(schedule []time.Duration, now time.Time) watchOrder {
	n := o
	n.Rechecks++
	n.Due = minTime(now.Add(schedule[min(n.Rechecks, len(schedule)-1)]), o.Deadline)
	return n
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

// The headers of a watch's schedule, which JetStream keeps on the message
// it fires: when the check is due, and how many checks came before it.
const (
	dueHeader      = "Paybridge-Watch-Due"
	rechecksHeader = "Paybridge-Watch-Rechecks"
)

// setSchedule writes the order's due time and re-checks into h.
func (o watchOrder) setSchedule(h nats.Header) {
	h.Set(dueHeader, o.Due.UTC().Format(time.RFC3339Nano))
	h.Set(rechecksHeader, strconv.Itoa(o.Rechecks))
}

// readSchedule reads a delivered watch's due time and re-checks from h
// into o, as strictly as its body: a due time that is not between the
// order's since and its deadline is invalid. An order without them is of
// an earlier version, or a trigger, which must have none.
func (o *watchOrder) readSchedule(h nats.Header) error {
	due, rechecks := h.Get(dueHeader), h.Get(rechecksHeader)
	if due == "" && rechecks == "" {
		return nil
	}
	if o.Trigger != "" {
		return errors.New("a trigger has no due time and no re-checks")
	}
	var err error
	if o.Due, err = time.Parse(time.RFC3339Nano, due); err != nil {
		return fmt.Errorf("the order's due time %s is not a time", quoted(due))
	}
	if o.Rechecks, err = strconv.Atoi(rechecks); err != nil || o.Rechecks < 0 || o.Rechecks > maxRechecks {
		return fmt.Errorf("the order's re-checks %s are not a count", quoted(rechecks))
	}
	if o.Due.Before(o.Since) || o.Due.After(o.Deadline) {
		return errors.New("the order's due time is not between its since and its deadline")
	}
	return nil
}

// maxRechecks bounds the count a header may carry: a watch of a day
// re-checked every second.
const maxRechecks = 1 << 20

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
