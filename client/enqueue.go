package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge"
)

// ErrNoCheckStream means that no stream takes queued checks on the
// subject: no bridge has run on this NATS yet (a bridge creates the stream,
// PAYMENT_CHECKS by default, when it starts), the subject is not the
// bridge's Config.QueuedCheckSubject, or the account does not import it.
// The error also matches nats.ErrNoResponders.
var ErrNoCheckStream = errors.New("no stream takes queued checks")

// Enqueued is where the stream stored a queued check: its PubAck.
type Enqueued struct {
	Stream   string `json:"stream"`
	Sequence uint64 `json:"seq"`
	// Duplicate is true when the stream had already stored a check with
	// the same DedupeID within its duplicate window: this one was not
	// stored again, and Sequence is the first one's.
	Duplicate bool `json:"duplicate,omitempty"`
}

// DedupeID sets the queued check's Nats-Msg-Id: the stream stores one of
// the checks published with the same id within its duplicate window (2
// minutes), and tells the others Duplicate. Without it, the default, every
// Enqueue is stored, so that a payment queued twice is checked twice.
//
// Give it to every check of a run to publish again, safely, a check whose
// PubAck did not come (a deadline, a reconnect): that one may have been
// stored, and the stream keeps one of the two. Make the id name the run and
// the payment ("sweep-2026-01-02/coinbar/shop-a/order-1"), not the payment
// alone, or a second run within two minutes would queue nothing. It is 1 to
// 512 bytes of UTF-8 without control characters.
func DedupeID(id string) EnqueueOption {
	return enqueueOption(func(r *request) { r.dedupeID = id })
}

// enqueueOption is an option of Enqueue alone.
type enqueueOption func(*request)

func (o enqueueOption) applyToEnqueue(r *request) { o(r) }

// maxDedupeIDBytes bounds a DedupeID: a header value, well within any
// server's limits.
const maxDedupeIDBytes = 512

// The JetStream answers that say the stream has no room for the check.
const (
	errAccountResources      jetstream.ErrorCode = 10002 // the account's JetStream limits
	errInsufficientResources jetstream.ErrorCode = 10023 // the server's JetStream storage
	errStoreFailed           jetstream.ErrorCode = 10077 // the stream's own limits, in the description
)

// Enqueue publishes a check of one payment to the bridge's durable intake
// (docs/contract.md, "Queued checks") and returns once the stream has
// stored it: the request of Check, on payments.check.queued, kept in the
// stream PAYMENT_CHECKS until a bridge has done the check, whether or not
// a bridge runs now. Nothing replies to it: its effects are those of a
// fire-and-forget check (the stored status, the event, the watch). It is
// the way to check many payments at once, a batch job's, without losing
// any to a burst or a bridge that is down.
//
// The options are those of the check request (Watch, MaxAge, RequestID,
// Account), and DedupeID. The arguments are checked as the bridge checks a
// request, and refused as ErrInvalidRequest before anything is published:
// the bridge would end an invalid queued check unheard of.
//
// ctx bounds the wait for the stream's PubAck; a few seconds are plenty.
// When ctx ends first, the check may or may not be stored: enqueue it again
// (a DedupeID given to both keeps one). A full stream is refused at once as an
// error matching ErrOverloaded, naming the stream and the limit; with no
// stream on the subject the error is ErrNoCheckStream. When ctx carries a
// span, its trace context travels in the message's traceparent and
// tracestate headers.
func (c *Client) Enqueue(ctx context.Context, provider, paymentID string, opts ...EnqueueOption) (Enqueued, error) {
	r := request{body: requestBody{Provider: provider, PaymentID: paymentID}}
	for _, opt := range opts {
		opt.applyToEnqueue(&r)
	}
	subject := c.queuedCheckSubject
	if err := r.validateQueued(); err != nil {
		return Enqueued{}, fmt.Errorf("queued check not published: %w", err)
	}
	data, err := r.encode()
	if err != nil {
		return Enqueued{}, err
	}
	msg := &nats.Msg{Subject: subject, Data: data, Header: traceHeader(ctx)}
	if r.dedupeID != "" {
		if msg.Header == nil {
			msg.Header = nats.Header{}
		}
		msg.Header.Set(jetstream.MsgIDHeader, r.dedupeID)
	}
	resp, err := c.publishToStream(ctx, msg)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return Enqueued{}, fmt.Errorf("%w on %s: a bridge creates its stream when it starts (%w)", ErrNoCheckStream, subject, err)
	case err != nil:
		return Enqueued{}, fmt.Errorf("queued check on %s: %w", subject, err)
	}
	return readPubAck(subject, resp.Data)
}

// publishToStream sends msg and returns the stream's answer. Like
// jetstream's Publish, it asks twice more, 250 ms apart, when nothing
// answers: a replicated stream may be between leaders.
func (c *Client) publishToStream(ctx context.Context, msg *nats.Msg) (*nats.Msg, error) {
	resp, err := c.nc.RequestMsgWithContext(ctx, msg)
	for retry := 0; errors.Is(err, nats.ErrNoResponders) && retry < 2; retry++ {
		wait := time.NewTimer(250 * time.Millisecond)
		select {
		case <-ctx.Done():
			wait.Stop()
			return nil, ctx.Err()
		case <-wait.C:
		}
		resp, err = c.nc.RequestMsgWithContext(ctx, msg)
	}
	return resp, err
}

// readPubAck reads the stream's answer to a queued check. A refusal for
// want of room (the stream's limits, the account's or the server's) is
// overloaded, as the bridge calls a full watch stream; any other refusal
// is the *jetstream.APIError, named.
func readPubAck(subject string, data []byte) (Enqueued, error) {
	var ack struct {
		Enqueued
		Error *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(data, &ack); err != nil || (ack.Error == nil && ack.Stream == "") {
		return Enqueued{}, fmt.Errorf("queued check on %s: %w: an answer that is not a JetStream PubAck: %.200q", subject, ErrMalformedReply, data)
	}
	if ack.Error == nil {
		return ack.Enqueued, nil
	}
	stream := "the stream on " + subject
	if ack.Stream != "" {
		stream = "stream " + ack.Stream
	}
	var full string
	switch desc := ack.Error.Description; {
	case ack.Error.ErrorCode == errStoreFailed && strings.HasPrefix(desc, "maximum "):
		full = fmt.Sprintf("%s is full (%s)", stream, desc)
	case ack.Error.ErrorCode == errAccountResources || ack.Error.ErrorCode == errInsufficientResources:
		full = fmt.Sprintf("JetStream has no room for %s (%s)", stream, desc)
	default:
		return Enqueued{}, fmt.Errorf("queued check on %s refused by %s: %w", subject, stream, ack.Error)
	}
	return Enqueued{}, &refusedError{
		coded: paybridge.Errorf(paybridge.CodeOverloaded, "%s; the check was not queued", full),
		api:   ack.Error,
	}
}

// refusedError is a queued check the stream had no room for: an
// overloaded *paybridge.Error for the caller, which matches ErrOverloaded,
// and JetStream's own answer beneath.
type refusedError struct {
	coded *paybridge.Error
	api   *jetstream.APIError
}

func (e *refusedError) Error() string   { return e.coded.Error() }
func (e *refusedError) Unwrap() []error { return []error{e.coded, e.api} }

// validateQueued refuses everything the bridge would refuse in a queued
// check, with the bridge's words (docs/contract.md, "Request validation"):
// a check it refused would be ended and counted, and its publisher would
// never hear of it.
func (r *request) validateQueued() error {
	if err := r.validate(); err != nil {
		return err
	}
	for _, f := range []struct {
		name, problem string
	}{
		{"provider", paybridge.TextProblem([]byte(r.body.Provider), 1, paybridge.MaxProviderBytes)},
		{"payment_id", paybridge.PaymentIDProblem([]byte(r.body.PaymentID))},
		{"request_id", paybridge.TextProblem([]byte(r.body.RequestID), 0, paybridge.MaxRequestIDBytes)},
	} {
		if f.problem != "" {
			return paybridge.Errorf(paybridge.CodeInvalidRequest, "%s: %s", f.name, f.problem)
		}
	}
	if r.maxAge > paybridge.MaxMaxAge {
		return paybridge.Errorf(paybridge.CodeInvalidRequest, "max_age: must be at most %s, got %q", paybridge.MaxMaxAge, r.maxAge.String())
	}
	if r.dedupeID != "" {
		if p := paybridge.TextProblem([]byte(r.dedupeID), 1, maxDedupeIDBytes); p != "" {
			return paybridge.Errorf(paybridge.CodeInvalidRequest, "dedupe id: %s", p)
		}
	}
	return nil
}
