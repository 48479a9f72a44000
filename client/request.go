package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/paybridge/paybridge"
)

// CheckTimeout is the least time a check should be given: one provider
// call takes up to 30 s, retries included, after a wait of up to 2 s for
// the provider's call budget. A shorter deadline may give up on a check
// the bridge still answers.
const CheckTimeout = 35 * time.Second

// requestBody is a check request (docs/contract.md, "Check request"); a
// status lookup sends only provider, account and payment_id.
type requestBody struct {
	Provider  string `json:"provider"`
	Account   string `json:"account,omitempty"`
	PaymentID string `json:"payment_id"`
	MaxAge    string `json:"max_age,omitempty"`
	Watch     bool   `json:"watch,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// request is one check, lookup or queued check as its options leave it.
type request struct {
	body      requestBody
	maxAge    time.Duration
	replyJSON *[]byte
	dedupeID  string // a queued check's Nats-Msg-Id; "" for none
}

// A CheckOption adds to a check request.
type CheckOption interface{ applyToCheck(*request) }

// A StatusOption adds to a status lookup.
type StatusOption interface{ applyToStatus(*request) }

// An EnqueueOption adds to a queued check (Enqueue). Nothing replies to a
// queued check, so the options about a reply (ReplyJSON) are not ones.
type EnqueueOption interface{ applyToEnqueue(*request) }

// A RequestOption is an option of checks and lookups alike.
type RequestOption interface {
	CheckOption
	StatusOption
}

// A QueueableOption sets a field of a check request, whether the check is
// sent and answered (Check) or queued (Enqueue).
type QueueableOption interface {
	CheckOption
	EnqueueOption
}

// A PaymentOption is an option of checks, lookups and queued checks alike.
type PaymentOption interface {
	RequestOption
	EnqueueOption
}

// queueableOption is an option of Check and Enqueue.
type queueableOption func(*request)

func (o queueableOption) applyToCheck(r *request)   { o(r) }
func (o queueableOption) applyToEnqueue(r *request) { o(r) }

// requestOption is an option of Check and Status.
type requestOption func(*request)

func (o requestOption) applyToCheck(r *request)  { o(r) }
func (o requestOption) applyToStatus(r *request) { o(r) }

// paymentOption is an option of Check, Status and Enqueue.
type paymentOption func(*request)

func (o paymentOption) applyToCheck(r *request)   { o(r) }
func (o paymentOption) applyToStatus(r *request)  { o(r) }
func (o paymentOption) applyToEnqueue(r *request) { o(r) }

// Watch asks the bridge to keep re-checking the payment after this check
// until its status is terminal (docs/contract.md, "Watches"); each change
// is then an event.
func Watch() QueueableOption { return queueableOption(func(r *request) { r.body.Watch = true }) }

// MaxAge lets the bridge answer from the stored status when the provider
// confirmed it at most d ago, sparing a provider call (and its budget).
// Zero, the default, always asks the provider; the bridge takes up to 30
// days. A queued check counts d from when the bridge takes it.
func MaxAge(d time.Duration) QueueableOption {
	return queueableOption(func(r *request) { r.maxAge = d })
}

// RequestID is echoed in the reply and the bridge's logs: a way to find
// one check in them. At most 128 bytes.
func RequestID(id string) QueueableOption {
	return queueableOption(func(r *request) { r.body.RequestID = id })
}

// Account names the merchant account the payment belongs to, for a
// platform that serves several merchants of one provider
// (docs/contract.md, "Accounts"); without it, the provider's default
// account. A bridge without that account answers unknown_account.
func Account(name string) PaymentOption {
	return paymentOption(func(r *request) { r.body.Account = name })
}

// ReplyJSON stores the reply's body in *dst exactly as received, error
// replies and malformed ones included, for a caller that passes it on.
// *dst stays nil when no reply came.
func ReplyJSON(dst *[]byte) RequestOption {
	return requestOption(func(r *request) { r.replyJSON = dst })
}

// Check asks the bridge to check one payment with its provider now and
// returns the reply (docs/contract.md, "Reply").
//
// ctx bounds the wait for the reply; give it at least CheckTimeout. When
// ctx carries a span, its trace context travels in the request's
// traceparent and tracestate headers. An error reply is a *ReplyError
// matching its code's sentinel (ErrPaymentNotFound, ...); empty arguments
// are refused before sending, as ErrInvalidRequest. With no bridge on the
// subject the error is ErrNoBridge; past the deadline, ctx's error.
func (c *Client) Check(ctx context.Context, provider, paymentID string, opts ...CheckOption) (paybridge.Reply, error) {
	r := request{body: requestBody{Provider: provider, PaymentID: paymentID}}
	for _, opt := range opts {
		opt.applyToCheck(&r)
	}
	return c.request(ctx, c.checkSubject, &r)
}

// Status reads the stored status of one payment without calling the
// provider (docs/contract.md, "Status lookups"): the reply has source
// "store", and a payment with nothing stored is ErrPaymentNotFound. Errors
// are those of Check; a lookup only reads the store, so a few seconds of
// ctx are plenty.
func (c *Client) Status(ctx context.Context, provider, paymentID string, opts ...StatusOption) (paybridge.Reply, error) {
	r := request{body: requestBody{Provider: provider, PaymentID: paymentID}}
	for _, opt := range opts {
		opt.applyToStatus(&r)
	}
	return c.request(ctx, c.statusSubject, &r)
}

func (c *Client) request(ctx context.Context, subject string, r *request) (paybridge.Reply, error) {
	if err := r.validate(); err != nil {
		return paybridge.Reply{}, fmt.Errorf("request not sent: %w", err)
	}
	data, err := r.encode()
	if err != nil {
		return paybridge.Reply{}, err
	}
	msg, err := c.nc.RequestMsgWithContext(ctx, &nats.Msg{Subject: subject, Data: data, Header: traceHeader(ctx)})
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return paybridge.Reply{}, fmt.Errorf("%w on %s (%w)", ErrNoBridge, subject, err)
	case err != nil:
		return paybridge.Reply{}, fmt.Errorf("request on %s: %w", subject, err)
	}
	if r.replyJSON != nil {
		*r.replyJSON = msg.Data
		if msg.Data == nil {
			*r.replyJSON = []byte{} // received, and empty
		}
	}
	return decodeReply(subject, r.body, msg)
}

// validate refuses, with the words the bridge would use, what the bridge
// would refuse anyway and the caller can see without a round trip. The
// bridge checks the rest.
func (r *request) validate() error {
	switch {
	case r.body.Provider == "":
		return paybridge.Errorf(paybridge.CodeInvalidRequest, "provider: must be 1 to %d bytes, got 0", paybridge.MaxProviderBytes)
	case r.body.PaymentID == "":
		return paybridge.Errorf(paybridge.CodeInvalidRequest, "payment_id: must be 1 to %d bytes, got 0", paybridge.MaxPaymentIDBytes)
	case r.maxAge < 0:
		return paybridge.Errorf(paybridge.CodeInvalidRequest, "max_age: must not be negative, got %q", r.maxAge.String())
	case r.body.Account != "" && paybridge.AccountProblem(r.body.Account) != "":
		return paybridge.Errorf(paybridge.CodeInvalidRequest, "account: %s, got %q", paybridge.AccountProblem(r.body.Account), r.body.Account)
	}
	return nil
}

// encode is the request's JSON body.
func (r *request) encode() ([]byte, error) {
	if r.maxAge > 0 {
		r.body.MaxAge = r.maxAge.String()
	}
	data, err := json.Marshal(r.body)
	if err != nil {
		return nil, fmt.Errorf("encoding the request: %w", err)
	}
	return data, nil
}

// decodeReply reads a reply: an error reply (told by the micro error
// header) becomes a *ReplyError, a status reply must be of the contract's
// shape and about the payment asked for.
func decodeReply(subject string, asked requestBody, msg *nats.Msg) (paybridge.Reply, error) {
	if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
		return paybridge.Reply{}, decodeErrorReply(subject, code, msg)
	}
	var rep paybridge.Reply
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		return rep, malformed(subject, "a status reply that is not JSON of its shape: %v", err)
	}
	if problem := replyProblem(rep, asked); problem != "" {
		return paybridge.Reply{}, malformed(subject, "%s", problem)
	}
	return rep, nil
}

func decodeErrorReply(subject, headerCode string, msg *nats.Msg) error {
	var er paybridge.ErrorReply
	if err := json.Unmarshal(msg.Data, &er); err != nil {
		return malformed(subject, "an error reply (%s %.200q) whose body is not JSON of its shape: %v",
			headerCode, msg.Header.Get(micro.ErrorHeader), err)
	}
	if er.Error.Code == "" {
		return malformed(subject, "an error reply (%s %.200q) without an error code", headerCode, msg.Header.Get(micro.ErrorHeader))
	}
	return &ReplyError{
		Err:       &paybridge.Error{Code: er.Error.Code, Message: er.Error.Message},
		Provider:  er.Provider,
		Account:   er.Account,
		PaymentID: er.PaymentID,
		RequestID: er.RequestID,
	}
}

// replyProblem names what keeps rep from being the reply to asked, or is
// empty.
func replyProblem(rep paybridge.Reply, asked requestBody) string {
	switch {
	case !rep.Status.Valid():
		return fmt.Sprintf("status %.40q is not a normalized status", rep.Status)
	case rep.PreviousStatus != nil && !rep.PreviousStatus.Valid():
		return fmt.Sprintf("previous_status %.40q is not a normalized status", *rep.PreviousStatus)
	case rep.Provider != asked.Provider || rep.PaymentID != asked.PaymentID:
		return fmt.Sprintf("it is about %.70q payment %.70q, not the payment asked about", rep.Provider, rep.PaymentID)
	case rep.Account != asked.Account:
		return fmt.Sprintf("it is about account %.70q, not the account asked about", rep.Account)
	case rep.Source != paybridge.SourceProvider && rep.Source != paybridge.SourceStore:
		return fmt.Sprintf("source %.40q is neither %q nor %q", rep.Source, paybridge.SourceProvider, paybridge.SourceStore)
	case rep.CheckedAt.IsZero():
		return "missing checked_at"
	}
	return paybridge.AmountsProblem(rep.Amount, rep.AmountPaid, rep.CryptoAmount)
}
