package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"go.opentelemetry.io/otel/trace"

	"github.com/paybridge/paybridge"
)

// service is the intake: the nats.go micro service "paybridge" with the
// check and status endpoints in one queue group. Requests are decoded on
// the subscription's goroutine and then run on their own, within limits
// that keep one slow provider from starving anything else: the checks'
// slots are shared by the providers with a reserve for each (slots), and
// lookups, which only read KV, have slots of their own.
//
// What a request may cost is bounded in bytes, not only in count: each
// endpoint's subscription buffers at most intakePendingBytes of messages
// not yet decoded (the NATS client drops the rest, counted), and a queued
// or running request keeps only its decoded fields (a job), never its
// message of up to 64 KiB.
type service struct {
	nc       *nats.Conn
	svc      micro.Service
	checker  *checker
	clock    Clock
	checks   *slots
	lanes    map[string]*lane // by provider
	lookups  *slots
	lookup   *lane
	owned    ownedSubjects
	tracing  tracing
	log      *slog.Logger
	metrics  *metrics
	drops    *summary // fire-and-forget checks dropped
	refusals *summary // requests refused for their reply subject
	unread   *unreadRequests

	running atomic.Int64 // requests being served in a slot now

	mu        sync.Mutex
	active    int           // requests being handled or waiting for their answer
	idle      chan struct{} // closed when active drops to zero
	delivered atomic.Uint64 // requests handed to us by the subscriptions
}

// The intake subscriptions' buffers of messages not yet decoded. Decoding
// is quick, so they fill only under a flood; past them the NATS client
// drops messages (counted in paybridge_requests_unread_total) rather than
// letting a flood of 64 KiB requests take the process's memory.
const (
	intakePendingMsgs  = 64 << 10
	intakePendingBytes = 2 << 20
)

// summaryInterval is how often a flood of dropped or refused requests is
// summed up in the log.
const summaryInterval = 10 * time.Second

func startService(nc *nats.Conn, cfg Config, checker *checker, m *metrics, t tracing) (*service, error) {
	checks, lanes := newCheckSlots(cfg.MaxInflight, checker.merchants.providers)
	lookups := newSlots(cfg.MaxInflight)
	s := &service{
		nc:      nc,
		checker: checker,
		clock:   cfg.Clock,
		checks:  checks,
		lanes:   lanes,
		lookups: lookups,
		lookup:  lookups.lane("lookups", 0, 0),
		owned:   newOwnedSubjects(cfg),
		tracing: t,
		log:     cfg.Logger,
		metrics: m,
		drops: newSummary(cfg.Logger, summaryInterval,
			"fire-and-forget checks dropped: their provider's share of in-flight checks and its queue are full"),
		refusals: newSummary(cfg.Logger, summaryInterval,
			"requests refused unanswered: their reply subject is one the bridge owns"),
		unread: newUnreadRequests(nc, cfg.CheckSubject, cfg.StatusSubject),
	}
	if err := m.watchUnread(s.unread); err != nil {
		return nil, err
	}
	for name, l := range lanes {
		if err := m.watchQueue(name, func() int { return checks.queueLen(l) }); err != nil {
			return nil, err
		}
	}
	svc, err := micro.AddService(nc, micro.Config{
		Name:        "paybridge",
		Version:     Version,
		Description: "Payment status bridge: checks payments with their provider and publishes status changes",
		QueueGroup:  cfg.QueueGroup,
	})
	if err != nil {
		return nil, fmt.Errorf("starting micro service: %w", err)
	}
	s.svc = svc
	for _, e := range []struct {
		name, subject string
		handle        func(micro.Request)
	}{
		{"check", cfg.CheckSubject, func(r micro.Request) { s.handle(r, checkEndpoint) }},
		{"status", cfg.StatusSubject, func(r micro.Request) { s.handle(r, lookupEndpoint) }},
	} {
		err := svc.AddEndpoint(e.name, micro.HandlerFunc(e.handle), micro.WithEndpointSubject(e.subject),
			micro.WithEndpointPendingLimits(intakePendingMsgs, intakePendingBytes))
		if err != nil {
			svc.Stop()
			return nil, fmt.Errorf("adding endpoint %s: %w", e.subject, err)
		}
	}
	// Subscriptions are sent asynchronously; once Start returns, requests
	// must find us.
	if err := nc.Flush(); err != nil {
		svc.Stop()
		return nil, fmt.Errorf("registering endpoints: %w", err)
	}
	return s, nil
}

// endpoint is which of the two requests a message is.
type endpoint uint8

const (
	checkEndpoint  endpoint = iota // payments.check
	lookupEndpoint                 // payments.status.get
	queuedEndpoint                 // payments.check.queued, the durable intake
)

// String is the endpoint's label in paybridge_requests_total.
func (e endpoint) String() string {
	switch e {
	case lookupEndpoint:
		return "lookup"
	case queuedEndpoint:
		return "queued"
	}
	return "check"
}

// spanName names the span of a request of this endpoint.
func (e endpoint) spanName() string {
	if e == lookupEndpoint {
		return "paybridge.lookup"
	}
	return "paybridge.check"
}

// decode reads and validates a request of this endpoint; a lookup fills
// only the provider and the payment id.
func (e endpoint) decode(header nats.Header, data []byte) (CheckRequest, error) {
	if e == lookupEndpoint {
		sr, err := DecodeStatusRequest(header, data)
		return CheckRequest{Provider: sr.Provider, Account: sr.Account, PaymentID: sr.PaymentID}, err
	}
	return DecodeCheckRequest(header, data)
}

// job is one decoded request, all a queued or running request keeps of
// its message.
type job struct {
	endpoint endpoint
	req      CheckRequest
	reply    string // "" for a fire-and-forget request
	span     trace.Span
}

// echo is what an error reply repeats of the request.
func (j *job) echo() paybridge.ErrorReply {
	return paybridge.ErrorReply{Provider: j.req.Provider, Account: j.req.Account, PaymentID: j.req.PaymentID, RequestID: j.req.RequestID}
}

// handle takes one request: it refuses a reply subject the bridge owns,
// decodes and routes the request to its pool, and never waits.
func (s *service) handle(msg micro.Request, ep endpoint) {
	received := s.clock.Now()
	s.enter() // counted from the start, so that stop waits for a refusal too
	defer s.leave()
	s.delivered.Add(1)
	header := nats.Header(msg.Headers())
	ctx, span := s.tracing.start(s.tracing.continued(context.Background(), header), ep.spanName(), trace.SpanKindServer)
	j := &job{endpoint: ep, reply: msg.Reply(), span: span}
	if problem := s.owned.problem(j.reply); problem != "" {
		// Unanswered: answering is exactly what is refused.
		s.metrics.countRequest(ep, "", outcomeRefusedReply)
		s.refusals.note(ctx, "endpoint", ep.String(), "reply_subject", j.reply, "problem", problem)
		endSpan(span, errRefusedReply)
		return
	}
	var err error
	if j.req, err = ep.decode(header, msg.Data()); err != nil {
		s.finish(ctx, j, paybridge.Reply{}, err)
		return
	}
	j.req.received = received
	if s.tracing.on {
		span.SetAttributes(attrProvider.String(j.req.Provider), attrPaymentID.String(j.req.PaymentID))
	}
	l := s.lanes[j.req.Provider]
	if l == nil { // refused before it takes a slot or names a metric label
		s.finish(ctx, j, paybridge.Reply{}, unknownProvider(j.req.Provider))
		return
	}
	if ep == lookupEndpoint {
		s.dispatch(ctx, s.lookups, s.lookup, j)
		return
	}
	s.dispatch(ctx, s.checks, l, j)
}

// newCheckSlots are the slots of checks: --max-inflight shared by the
// providers, plus a reserve for each of a sixteenth of it (at least one),
// and a queue for each of fire-and-forget checks as long as an even share
// (docs/contract.md, "Fire-and-forget and request-reply").
func newCheckSlots(maxInflight int, providers []string) (*slots, map[string]*lane) {
	s := newSlots(maxInflight)
	lanes := make(map[string]*lane, len(providers))
	for _, name := range providers {
		lanes[name] = s.lane(name, max(1, maxInflight/16), max(1, maxInflight/max(1, len(providers))))
	}
	return s, lanes
}

// errRefusedReply marks the span of a request refused for its reply
// subject; nobody is told.
var errRefusedReply = paybridge.Errorf(paybridge.CodeInvalidRequest, "reply subject refused")

// outcomeRefusedReply and outcomeDropped are the request outcomes that get
// no reply.
const (
	outcomeRefusedReply = "refused_reply_subject"
	outcomeDropped      = "dropped"
)

// dispatch runs j in a slot of lane l. A request that wants an answer
// gets overloaded at once when none is free; a fire-and-forget one is
// queued, and dropped (and counted) when the queue is full too: nobody
// would hear of its refusal, and the subscription must never wait. The
// slot is freed once the answer is ready, before it is sent, so that a
// caller's next request never finds its own previous one still counted.
func (s *service) dispatch(ctx context.Context, sl *slots, l *lane, j *job) {
	run := func(held slot) {
		defer s.leave()
		// No deadline here: the provider call has its own (CheckTimeout),
		// and every NATS call falls back to the client's default timeout.
		rep, err := s.serveIn(ctx, sl, held, j)
		s.finish(ctx, j, rep, err)
	}
	s.enter()
	if j.reply == "" && sl.tryOrQueue(l, run) || j.reply != "" && sl.try(l, run) {
		return
	}
	s.leave()
	refusal := paybridge.Errorf(paybridge.CodeOverloaded, "every slot for %s requests is in flight", l.name)
	if j.reply != "" {
		s.finish(ctx, j, paybridge.Reply{}, refusal)
		return
	}
	s.metrics.countRequest(j.endpoint, j.req.Provider, outcomeDropped)
	s.metrics.dropped.WithLabelValues(j.req.Provider).Inc()
	s.drops.note(ctx, "provider", j.req.Provider, "payment_id", j.req.PaymentID, "request_id", j.req.RequestID)
	endSpan(j.span, refusal)
}

// serveIn serves j in the slot it holds of sl, counted in flight while it
// runs, and frees the slot before the answer goes anywhere.
func (s *service) serveIn(ctx context.Context, sl *slots, held slot, j *job) (paybridge.Reply, error) {
	s.metrics.inflight.Inc()
	s.running.Add(1)
	rep, err := s.serve(ctx, j)
	s.running.Add(-1)
	s.metrics.inflight.Dec()
	sl.done(held)
	return rep, err
}

// serve runs one request's work; a panic in it becomes an internal error,
// so that the request still gets its one reply and the process lives on.
func (s *service) serve(ctx context.Context, j *job) (rep paybridge.Reply, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &internal{fmt.Errorf("panic: %v", v)}
		}
	}()
	if j.endpoint == lookupEndpoint {
		return s.checker.Lookup(ctx, StatusRequest{Provider: j.req.Provider, Account: j.req.Account, PaymentID: j.req.PaymentID})
	}
	return s.checker.Check(ctx, j.req)
}

// finish counts the request's outcome, ends its span and sends its one
// reply, when it wants one.
func (s *service) finish(ctx context.Context, j *job, rep paybridge.Reply, err error) {
	provider := j.req.Provider
	if s.lanes[provider] == nil {
		provider = "" // do not let callers mint label values
	}
	out := outcome(rep, err)
	s.metrics.countRequest(j.endpoint, provider, out)
	if s.tracing.on {
		j.span.SetAttributes(attrOutcome.String(out))
	}
	endSpan(j.span, err)
	if err != nil {
		s.respondError(ctx, j, err)
		return
	}
	s.respond(ctx, j, rep)
}

// respond sends the reply. Replies are published on the connection rather
// than through micro.Request: micro reads a request's error state when the
// handler returns, and ours return before the answer is ready. A reply too
// large for the connection is answered with an error instead, so that the
// request still gets its one reply.
func (s *service) respond(ctx context.Context, j *job, rep paybridge.Reply) {
	if j.reply == "" {
		return
	}
	data := rep.AppendJSON(make([]byte, 0, 512))
	switch {
	case int64(len(data)) > s.nc.MaxPayload():
		s.respondError(ctx, j, paybridge.Errorf(paybridge.CodeInternal,
			"the reply is %d bytes, more than the NATS server accepts (%d)", len(data), s.nc.MaxPayload()))
		return
	}
	if err := s.nc.Publish(j.reply, data); err != nil {
		s.log.WarnContext(ctx, "reply not sent", "endpoint", j.endpoint.String(), "error", err)
	}
}

// respondError answers with the error body and the micro error headers.
// Internal causes are logged here and never sent.
func (s *service) respondError(ctx context.Context, j *job, err error) {
	body := j.echo()
	body.Error = paybridge.NewErrorBody(err)
	log := s.log.With("endpoint", j.endpoint.String(), "code", body.Error.Code,
		"provider", body.Provider, "payment_id", body.PaymentID, "request_id", body.RequestID)
	if body.Error.Code == paybridge.CodeInternal {
		log.ErrorContext(ctx, "request failed", "error", err)
	} else {
		log.InfoContext(ctx, "request refused", "message", body.Error.Message)
	}
	if j.reply == "" {
		return
	}
	msg := nats.NewMsg(j.reply)
	msg.Header.Set(micro.ErrorCodeHeader, strconv.Itoa(body.Error.Code.HeaderCode()))
	msg.Header.Set(micro.ErrorHeader, string(body.Error.Code)+": "+body.Error.Message)
	msg.Data, _ = json.Marshal(body)
	if err := s.nc.PublishMsg(msg); err != nil {
		s.log.WarnContext(ctx, "error reply not sent", "endpoint", j.endpoint.String(), "error", err)
	}
}

func (s *service) enter() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active == 0 {
		s.idle = make(chan struct{})
	}
	s.active++
}

func (s *service) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active--
	if s.active == 0 {
		close(s.idle)
	}
}

// waitIdle returns when no request is being processed.
func (s *service) waitIdle(ctx context.Context) error {
	s.mu.Lock()
	idle, active := s.idle, s.active
	s.mu.Unlock()
	if active == 0 {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop takes no new requests and returns once every request received has
// been answered. Unsubscribing is asynchronous: messages the server sent
// before it saw the unsubscribe are still delivered, so after a flush
// (which orders us behind them) we wait until a round of waiting sees no
// new delivery. The log summaries say what they still hold.
func (s *service) stop(ctx context.Context) error {
	defer s.refusals.stop()
	defer s.drops.stop()
	if err := s.svc.Stop(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		s.log.Warn("stopping micro service", "error", err)
	}
	for {
		seen := s.delivered.Load()
		if err := s.nc.FlushTimeout(5 * time.Second); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			return err
		}
		if err := s.waitIdle(ctx); err != nil {
			return err
		}
		if s.delivered.Load() == seen {
			s.checks.stop()
			s.lookups.stop()
			return nil
		}
	}
}
