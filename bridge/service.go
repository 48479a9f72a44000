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

	"github.com/paybridge/paybridge/providers"
)

// service is the intake: the nats.go micro service "paybridge" with the
// check and status endpoints in one queue group. Each request runs on its
// own goroutine, at most cap(slots) at once.
type service struct {
	nc      *nats.Conn
	svc     micro.Service
	checker *checker
	slots   chan struct{}
	log     *slog.Logger
	metrics *metrics

	mu        sync.Mutex
	active    int           // requests being processed
	idle      chan struct{} // closed when active drops to zero
	delivered atomic.Uint64 // requests handed to us by the subscriptions
}

func startService(nc *nats.Conn, cfg Config, checker *checker, m *metrics) (*service, error) {
	s := &service{
		nc:      nc,
		checker: checker,
		slots:   make(chan struct{}, cfg.MaxInflight),
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
	s.dispatch(req, func(ctx context.Context) answer {
		cr, err := DecodeCheckRequest(nats.Header(req.Headers()), req.Data())
		if err != nil {
			return answer{err: err}
		}
		cr.received = received
		rep, err := s.checker.Check(ctx, cr)
		return answer{rep: rep, err: err, echo: ErrorReply{Provider: cr.Provider, PaymentID: cr.PaymentID, RequestID: cr.RequestID}}
	})
}

func (s *service) handleStatus(req micro.Request) {
	s.dispatch(req, func(ctx context.Context) answer {
		sr, err := DecodeStatusRequest(nats.Header(req.Headers()), req.Data())
		if err != nil {
			return answer{err: err}
		}
		rep, err := s.checker.Lookup(ctx, sr)
		return answer{rep: rep, err: err, echo: ErrorReply{Provider: sr.Provider, PaymentID: sr.PaymentID}}
	})
}

// answer is what a request comes to: a reply, or an error with the fields
// to echo.
type answer struct {
	rep  Reply
	err  error
	echo ErrorReply
}

// dispatch runs serve on its own goroutine once a slot is free. A request
// that wants an answer gets overloaded at once when none is; a
// fire-and-forget one waits, because nobody would hear of its rejection.
// The slot is freed once the answer is ready, before it is sent, so that a
// caller's next request never finds its own previous one still counted.
func (s *service) dispatch(req micro.Request, serve func(context.Context) answer) {
	s.delivered.Add(1)
	if req.Reply() == "" {
		s.slots <- struct{}{}
	} else {
		select {
		case s.slots <- struct{}{}:
		default:
			s.respondError(req, providers.Errorf(providers.CodeOverloaded,
				"more than %d requests in flight", cap(s.slots)), ErrorReply{})
			return
		}
	}
	s.enter()
	go func() {
		defer s.leave()
		// No deadline here: the provider call has its own (CheckTimeout),
		// and every NATS call falls back to the client's default timeout.
		a := serve(context.Background())
		<-s.slots
		if a.err != nil {
			s.respondError(req, a.err, a.echo)
			return
		}
		s.respond(req, a.rep)
	}()
}

// respond sends the reply. Replies are published on the connection rather
// than through micro.Request: micro reads a request's error state when the
// handler returns, and ours return before the answer is ready.
func (s *service) respond(req micro.Request, rep Reply) {
	if req.Reply() == "" {
		return
	}
	data, err := json.Marshal(rep)
	if err == nil {
		err = s.nc.Publish(req.Reply(), data)
	}
	if err != nil {
		s.log.Warn("reply not sent", "subject", req.Subject(), "error", err)
	}
}

// respondError answers with the error body and the micro error headers.
// Internal causes are logged here and never sent.
func (s *service) respondError(req micro.Request, err error, echo ErrorReply) {
	body := newErrorReply(err, echo.Provider, echo.PaymentID, echo.RequestID)
	log := s.log.With("code", body.Error.Code, "provider", echo.Provider, "payment_id", echo.PaymentID, "request_id", echo.RequestID)
	if body.Error.Code == providers.CodeInternal {
		log.Error("check failed", "error", err)
	} else {
		log.Info("check refused", "message", body.Error.Message)
	}
	if req.Reply() == "" {
		return
	}
	msg := nats.NewMsg(req.Reply())
	msg.Header.Set(micro.ErrorCodeHeader, strconv.Itoa(body.Error.Code.HeaderCode()))
	msg.Header.Set(micro.ErrorHeader, string(body.Error.Code)+": "+body.Error.Message)
	msg.Data, _ = json.Marshal(body)
	if err := s.nc.PublishMsg(msg); err != nil {
		s.log.Warn("error reply not sent", "subject", req.Subject(), "error", err)
	}
}

func (s *service) enter() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active == 0 {
		s.idle = make(chan struct{})
	}
	s.active++
	s.metrics.inflight.Inc()
}

func (s *service) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active--
	s.metrics.inflight.Dec()
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
