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
// that keep one slow provider from starving anything else: each provider
// has its own share of the in-flight limit (a pool), and lookups, which
// only read KV, have slots of their own.
type service struct {
	nc      *nats.Conn
	svc     micro.Service
	checker *checker
	pools   map[string]*pool // by provider
	lookups *pool
	tracing tracing
	log     *slog.Logger
	metrics *metrics

	mu        sync.Mutex
	active    int           // requests being handled or waiting for their answer
	idle      chan struct{} // closed when active drops to zero
	delivered atomic.Uint64 // requests handed to us by the subscriptions
}

func startService(nc *nats.Conn, cfg Config, checker *checker, m *metrics, t tracing) (*service, error) {
	// Each provider's share of --max-inflight, and as many queued
	// fire-and-forget checks.
	share := max(1, cfg.MaxInflight/max(1, len(checker.providers)))
	pools := make(map[string]*pool, len(checker.providers))
	for name := range checker.providers {
		pools[name] = newPool(share, share)
	}
	s := &service{
		nc:      nc,
		checker: checker,
		pools:   pools,
		lookups: newPool(cfg.MaxInflight, 0),
		tracing: t,
		log:     cfg.Logger,
		metrics: m,
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
	if err := svc.AddEndpoint("check", micro.HandlerFunc(s.handleCheck), micro.WithEndpointSubject(cfg.CheckSubject)); err != nil {
		svc.Stop()
		return nil, fmt.Errorf("adding endpoint %s: %w", cfg.CheckSubject, err)
	}
	if err := svc.AddEndpoint("status", micro.HandlerFunc(s.handleStatus), micro.WithEndpointSubject(cfg.StatusSubject)); err != nil {
		svc.Stop()
		return nil, fmt.Errorf("adding endpoint %s: %w", cfg.StatusSubject, err)
	}
	// Subscriptions are sent asynchronously; once Start returns, requests
	// must find us.
	if err := nc.Flush(); err != nil {
		svc.Stop()
		return nil, fmt.Errorf("registering endpoints: %w", err)
	}
	return s, nil
}

func (s *service) handleCheck(req micro.Request) {
	received := time.Now()
	s.enter() // counted from the start, so that stop waits for a refusal too
	defer s.leave()
	s.delivered.Add(1)
	header := nats.Header(req.Headers())
	ctx, span := s.tracing.start(s.tracing.continued(context.Background(), header), "paybridge.check", trace.SpanKindServer)
	cr, err := DecodeCheckRequest(header, req.Data())
	if err != nil {
		s.respondError(ctx, req, err, paybridge.ErrorReply{})
		endSpan(span, err)
		return
	}
	cr.received = received
	if s.tracing.on {
		span.SetAttributes(attrProvider.String(cr.Provider), attrPaymentID.String(cr.PaymentID))
	}
	echo := paybridge.ErrorReply{Provider: cr.Provider, PaymentID: cr.PaymentID, RequestID: cr.RequestID}
	p := s.pools[cr.Provider]
	if p == nil {
		err := unknownProvider(cr.Provider)
		s.metrics.countCheck(cr.Provider, paybridge.Reply{}, err)
		s.respondError(ctx, req, err, echo)
		endSpan(span, err)
		return
	}
	err = s.dispatch(ctx, req, p, echo, func(ctx context.Context) (paybridge.Reply, error) {
		rep, err := s.checker.Check(ctx, cr)
		if s.tracing.on {
			span.SetAttributes(attrOutcome.String(outcome(rep, err)))
		}
		endSpan(span, err)
		return rep, err
	})
	if err != nil {
		endSpan(span, err)
	}
}

func (s *service) handleStatus(req micro.Request) {
	s.enter()
	defer s.leave()
	s.delivered.Add(1)
	header := nats.Header(req.Headers())
	ctx, span := s.tracing.start(s.tracing.continued(context.Background(), header), "paybridge.lookup", trace.SpanKindServer)
	sr, err := DecodeStatusRequest(header, req.Data())
	if err != nil {
		s.respondError(ctx, req, err, paybridge.ErrorReply{})
		endSpan(span, err)
		return
	}
	if s.tracing.on {
		span.SetAttributes(attrProvider.String(sr.Provider), attrPaymentID.String(sr.PaymentID))
	}
	echo := paybridge.ErrorReply{Provider: sr.Provider, PaymentID: sr.PaymentID}
	if s.pools[sr.Provider] == nil { // refused before it takes a slot or names a metric label
		err := unknownProvider(sr.Provider)
		s.respondError(ctx, req, err, echo)
		endSpan(span, err)
		return
	}
	err = s.dispatch(ctx, req, s.lookups, echo, func(ctx context.Context) (paybridge.Reply, error) {
		rep, err := s.checker.Lookup(ctx, sr)
		endSpan(span, err)
		return rep, err
	})
	if err != nil {
		endSpan(span, err)
	}
}

// dispatch runs serve with ctx in one of p's slots. A request that wants
// an answer gets overloaded at once when none is free; a fire-and-forget
// one is queued, and dropped (and counted) when the queue is full too:
// nobody would hear of its refusal, and the subscription must never wait.
// The slot is freed once the answer is ready, before it is sent, so that a
// caller's next request never finds its own previous one still counted.
// It returns why the request was refused, nil when it was taken.
func (s *service) dispatch(ctx context.Context, req micro.Request, p *pool, echo paybridge.ErrorReply, serve func(context.Context) (paybridge.Reply, error)) error {
	job := func() {
		defer s.leave()
		s.metrics.inflight.Inc()
		// No deadline here: the provider call has its own (CheckTimeout),
		// and every NATS call falls back to the client's default timeout.
		rep, err := s.serve(ctx, serve)
		s.metrics.inflight.Dec()
		p.done()
		if err != nil {
			s.respondError(ctx, req, err, echo)
			return
		}
		s.respond(ctx, req, rep, echo)
	}
	s.enter()
	accepted := false
	if req.Reply() == "" {
		accepted = p.tryOrQueue(job)
	} else {
		accepted = p.try(job)
	}
	if accepted {
		return nil
	}
	s.leave()
	refusal := paybridge.Errorf(paybridge.CodeOverloaded, "%d requests of this kind in flight, the bridge's limit for them", cap(p.slots))
	if req.Reply() == "" {
		s.metrics.dropped.WithLabelValues(echo.Provider).Inc()
		s.log.WarnContext(ctx, "fire-and-forget check dropped: its provider's share of in-flight checks and its queue are full",
			"provider", echo.Provider, "payment_id", echo.PaymentID, "request_id", echo.RequestID)
		return refusal
	}
	s.respondError(ctx, req, refusal, echo)
	return refusal
}

// serve runs one request's work; a panic in it becomes an internal error,
// so that the request still gets its one reply and the process lives on.
func (s *service) serve(ctx context.Context, serve func(context.Context) (paybridge.Reply, error)) (rep paybridge.Reply, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &internal{fmt.Errorf("panic: %v", v)}
		}
	}()
	return serve(ctx)
}

// respond sends the reply. Replies are published on the connection rather
// than through micro.Request: micro reads a request's error state when the
// handler returns, and ours return before the answer is ready. A reply too
// large for the connection is answered with an error instead, so that the
// request still gets its one reply.
func (s *service) respond(ctx context.Context, req micro.Request, rep paybridge.Reply, echo paybridge.ErrorReply) {
	if req.Reply() == "" {
		return
	}
	data, err := json.Marshal(rep)
	switch {
	case err != nil:
		s.respondError(ctx, req, &internal{fmt.Errorf("encoding reply: %w", err)}, echo)
		return
	case int64(len(data)) > s.nc.MaxPayload():
		s.respondError(ctx, req, paybridge.Errorf(paybridge.CodeInternal,
			"the reply is %d bytes, more than the NATS server accepts (%d)", len(data), s.nc.MaxPayload()), echo)
		return
	}
	if err := s.nc.Publish(req.Reply(), data); err != nil {
		s.log.WarnContext(ctx, "reply not sent", "subject", req.Subject(), "error", err)
	}
}

// respondError answers with the error body and the micro error headers.
// Internal causes are logged here and never sent.
func (s *service) respondError(ctx context.Context, req micro.Request, err error, echo paybridge.ErrorReply) {
	body := echo
	body.Error = paybridge.NewErrorBody(err)
	log := s.log.With("code", body.Error.Code, "provider", echo.Provider, "payment_id", echo.PaymentID, "request_id", echo.RequestID)
	if body.Error.Code == paybridge.CodeInternal {
		log.ErrorContext(ctx, "check failed", "error", err)
	} else {
		log.InfoContext(ctx, "check refused", "message", body.Error.Message)
	}
	if req.Reply() == "" {
		return
	}
	msg := nats.NewMsg(req.Reply())
	msg.Header.Set(micro.ErrorCodeHeader, strconv.Itoa(body.Error.Code.HeaderCode()))
	msg.Header.Set(micro.ErrorHeader, string(body.Error.Code)+": "+body.Error.Message)
	msg.Data, _ = json.Marshal(body)
	if err := s.nc.PublishMsg(msg); err != nil {
		s.log.WarnContext(ctx, "error reply not sent", "subject", req.Subject(), "error", err)
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
// new delivery.
func (s *service) stop(ctx context.Context) error {
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
			return nil
		}
	}
}
