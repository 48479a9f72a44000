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
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge/internal/jsonscan"
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
	// Every is the step of a watch on a repeating schedule (its last
	// step, everyHeader), and Next when its schedule fires again (the
	// server's Nats-Schedule-Next on a due message, on this instance's
	// clock); zero for a watch scheduled one check at a time.
	Every time.Duration `json:"-"`
	Next  time.Time     `json:"-"`
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
//
// Once on its last step, a watch whose deadline is more than a step away
// is scheduled to repeat (Every) when the step is at least minRepeat: its
// schedule then stays, and fires every step until the watch ends, so that
// a re-check stores nothing. Shorter steps stay one at a time
// (watcher.minRepeat says which).
func (o watchOrder) next(schedule []time.Duration, minRepeat time.Duration, now time.Time) watchOrder {
	n := o
	n.Rechecks++
	step := schedule[min(n.Rechecks, len(schedule)-1)]
	n.Due = minTime(now.Add(step), o.Deadline)
	n.Every, n.Next = 0, time.Time{}
	if n.Rechecks >= len(schedule)-1 && step >= minRepeat && n.Due.Before(o.Deadline) {
		n.Every = step
	}
	return n
}

// minRepeatStep is the shortest step scheduled to repeat: JetStream fires
// a repeating schedule on whole seconds of its clock, so its first check
// may come up to half a second early against its step, a twentieth of
// this at most.
const minRepeatStep = 10 * time.Second

// minRepeat is the shortest step this watcher schedules to repeat: at
// least minRepeatStep, and long enough for a check's permanent answers to
// be asked again before the next firing and for its last provider call to
// end by then (watcher.check).
func (w *watcher) minRepeat() time.Duration {
	return max(minRepeatStep, maxRefusals*w.schedule[0]+w.callTimeout)
}

// repeating reports whether the order is a due check of a repeating
// schedule, which stays in force after it.
func (o watchOrder) repeating() bool { return o.Every > 0 && !o.Next.IsZero() }

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
	if err := o.decodeJSON(data); err != nil {
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

// decodeJSON reads an order's body as json.Marshal writes it: an object
// of watchOrder's members, each at most once, by their exact names, with
// strings (times in RFC 3339) and no nulls. What it accepts,
// encoding/json decodes alike (FuzzWatchOrderDecodesAsEncodingJSON); it
// is one pass over the body instead of a validation and a reflective
// decode, which cost a re-check a twentieth of the bridge's CPU.
func (o *watchOrder) decodeJSON(data []byte) error {
	s := jsonscan.NewLenient(data)
	if s.Kind() != jsonscan.Object {
		if s.Kind() == jsonscan.None {
			return s.SyntaxError()
		}
		return fmt.Errorf("want an object, got %s", s.Kind())
	}
	var seen uint8
	err := s.Object(func(key []byte) error {
		var text *string
		var at *time.Time
		var bit uint8
		switch string(key) {
		case "provider":
			text, bit = &o.Provider, 1
		case "account":
			text, bit = &o.Account, 2
		case "payment_id":
			text, bit = &o.PaymentID, 4
		case "trigger":
			text, bit = &o.Trigger, 8
		case "since":
			at, bit = &o.Since, 16
		case "deadline":
			at, bit = &o.Deadline, 32
		default:
			return fmt.Errorf("unknown field %s", quoted(string(key)))
		}
		switch {
		case seen&bit != 0:
			return fmt.Errorf("duplicate field %q", key)
		case s.Kind() != jsonscan.String:
			return fmt.Errorf("%s: want a string, got %s", key, s.Kind())
		}
		seen |= bit
		if at == nil {
			b, err := s.String()
			*text = string(b)
			return err
		}
		// As encoding/json reads a time: the quoted text, escapes and all.
		raw, err := s.Skip()
		if err != nil {
			return err
		}
		if err := at.UnmarshalJSON(raw); err != nil {
			return fmt.Errorf("%s: %v", key, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.End()
}

// The headers of a watch's schedule, which JetStream keeps on the message
// it fires: when the check is due, and how many checks came before it.
const (
	dueHeader      = "Paybridge-Watch-Due"
	rechecksHeader = "Paybridge-Watch-Rechecks"
	everyHeader    = "Paybridge-Watch-Every"
)

// scheduleNextPurge is the Nats-Schedule-Next of a one-time schedule's
// firing, which removes the schedule; a repeating one's is a time.
const scheduleNextPurge = "purge"

// setSchedule writes the order's due time and re-checks, and the step of
// a repeating schedule, into h.
func (o watchOrder) setSchedule(h nats.Header) {
	h.Set(dueHeader, o.Due.UTC().Format(time.RFC3339Nano))
	h.Set(rechecksHeader, strconv.Itoa(o.Rechecks))
	if o.Every > 0 {
		h.Set(everyHeader, o.Every.String())
	}
}

// readSchedule reads a delivered watch's due time and re-checks from h
// into o, as strictly as its body: a due time that is not between the
// order's since and its deadline is invalid. An order without them is of
// an earlier version, or a trigger, which must have none. A due message
// of a repeating schedule was due a step before the schedule's next
// firing, which the server stamps on it (Nats-Schedule-Next, on its
// clock: local turns it into this instance's); it may come after the
// deadline (no instance ran then), and is then due at the deadline.
func (o *watchOrder) readSchedule(h nats.Header, local func(time.Time) time.Time) error {
	due, rechecks, every := h.Get(dueHeader), h.Get(rechecksHeader), h.Get(everyHeader)
	next := h.Get(jetstream.ScheduleNextHeader)
	if every == "" && next != "" && next != scheduleNextPurge {
		// A repeating schedule's firing, which the bridge would not know
		// how to end.
		return errors.New("a repeating schedule's order has no step")
	}
	if due == "" && rechecks == "" && every == "" {
		return nil
	}
	if o.Trigger != "" {
		return errors.New("a trigger has no due time, re-checks or step")
	}
	var err error
	if o.Due, err = time.Parse(time.RFC3339Nano, due); err != nil {
		return fmt.Errorf("the order's due time %s is not a time", quoted(due))
	}
	if o.Rechecks, err = strconv.Atoi(rechecks); err != nil || o.Rechecks < 0 || o.Rechecks > maxRechecks {
		return fmt.Errorf("the order's re-checks %s are not a count", quoted(rechecks))
	}
	if every != "" {
		if o.Every, err = time.ParseDuration(every); err != nil || o.Every < minRepeatStep || o.Every > o.Deadline.Sub(o.Since) {
			return fmt.Errorf("the order's step %s is not a duration between %s and its deadline", quoted(every), minRepeatStep)
		}
		if next != "" {
			at, err := time.Parse(time.RFC3339Nano, next)
			if err != nil {
				return fmt.Errorf("the order's next firing %s is not a time", quoted(next))
			}
			o.Next = local(at)
			o.Due = minTime(o.Next.Add(-o.Every), o.Deadline)
		}
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
