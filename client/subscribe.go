package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge/events"
)

// subscribeBatch is how many events a subscriber holds at once. Events
// waiting behind a slow handler are already delivered, and their ack wait
// runs, so the batch is small: ten events of a one-second handler are still
// well within the default ack wait of 30 s.
const subscribeBatch = 10

// The default delays before a failed event is delivered again: 1 s after
// the first failure, doubling with each delivery, at most a minute.
const (
	defaultRetryFirst = time.Second
	defaultRetryMax   = time.Minute
)

// A SubscribeOption changes what Subscribe takes and how it answers.
type SubscribeOption func(*subscribeConfig) error

type subscribeConfig struct {
	watchExpired         bool
	report               func(error)
	retryFirst, retryMax time.Duration
}

// WithWatchExpired takes watch-expired events too (Type
// events.TypeWatchExpired, on payments.watch.expired): watches that ended
// before their payment settled. Every Subscribe on one durable name should
// agree on it: the consumer's filter is the last one asked for.
func WithWatchExpired() SubscribeOption {
	return func(c *subscribeConfig) error { c.watchExpired = true; return nil }
}

// OnError hears of what happens away from the handler: a message in the
// stream that is not a paybridge event (an *InvalidMessageError; it has
// been terminated), an ack, nak or term that failed, and the consumer's
// own trouble (missed heartbeats, a deleted consumer). Without it these
// pass silently.
func OnError(report func(error)) SubscribeOption {
	return func(c *subscribeConfig) error {
		if report == nil {
			return errors.New("OnError needs a function")
		}
		c.report = report
		return nil
	}
}

// RetryBackoff sets how long an event whose handler failed waits before it
// is delivered again: first after the first failure, doubling with each
// delivery, never more than max. The default is 1 s up to 1 minute.
func RetryBackoff(first, max time.Duration) SubscribeOption {
	return func(c *subscribeConfig) error {
		if first <= 0 || max < first {
			return fmt.Errorf("RetryBackoff(%s, %s): want 0 < first <= max", first, max)
		}
		c.retryFirst, c.retryMax = first, max
		return nil
	}
}

// retryDelay is the wait before delivery number delivered+1 of an event.
func (c *subscribeConfig) retryDelay(delivered uint64) time.Duration {
	d := c.retryFirst
	for i := uint64(1); i < delivered && d < c.retryMax; i++ {
		d *= 2
	}
	return min(d, c.retryMax)
}

// InvalidMessageError is a message in the event stream that is not a
// paybridge event: Subscribe terminates it, Follow skips it. It unwraps to
// the decoding error, which matches events.ErrInvalidEvent.
type InvalidMessageError struct {
	Subject  string
	Sequence uint64 // the message's sequence in the stream; 0 if unknown
	Err      error
}

func (e *InvalidMessageError) Error() string {
	return fmt.Sprintf("message %d on %s is not a paybridge event: %v", e.Sequence, e.Subject, e.Err)
}

func (e *InvalidMessageError) Unwrap() error { return e.Err }

// Subscription is a running Subscribe or Follow.
type Subscription struct {
	consume jetstream.ConsumeContext
	cancel  context.CancelFunc
}

// Stop stops taking events at once and cancels the handlers' context: a
// handler still running should give up, and its event is delivered again
// later. An event whose handler returns nil is still acknowledged.
func (s *Subscription) Stop() {
	s.consume.Stop()
	s.cancel()
}

// Drain stops taking new events but lets the ones already received be
// handled and acknowledged; Closed tells when that is done.
func (s *Subscription) Drain() { s.consume.Drain() }

// Closed is closed once the subscription has stopped, by Stop, Drain or
// the connection closing.
func (s *Subscription) Closed() <-chan struct{} { return s.consume.Closed() }

// Subscribe hands each event stored in the event stream to handler
// through the durable JetStream consumer named durable, and acknowledges
// it by what handler returns: nil acknowledges it (waiting until the
// server has recorded the ack), Permanent(err) terminates it, any other
// error asks for it again after a delay that grows with each delivery (see
// RetryBackoff). A message that is not a paybridge event is terminated and
// reported to OnError.
//
// The consumer takes status-changed events (WithWatchExpired: watch-expired
// events too), acknowledged one by one, redelivered without limit. A new
// consumer starts at the first event the stream holds. An existing one is
// joined as it is (where it starts, its ack wait, its limits), its filter
// set when it differs. JetStream cannot change a consumer's ack policy, so
// an existing consumer without explicit acks is refused: delete it, or use
// another durable name. Every Subscribe with the same durable name, in
// this process or another, shares the consumer, so replicas of a service
// split the events between them.
//
// ctx bounds the setup. The handler's context carries ctx's values and the
// event's trace context (see the package doc), and is canceled by Stop.
// Handlers are called one at a time; each should return within the
// consumer's ack wait (30 s by default), or JetStream delivers its event
// again meanwhile.
func (c *Client) Subscribe(ctx context.Context, durable string, handler func(context.Context, events.Event) error, opts ...SubscribeOption) (*Subscription, error) {
	if err := checkName("durable consumer", durable); err != nil {
		return nil, err
	}
	if handler == nil {
		return nil, errors.New("Subscribe needs a handler")
	}
	cfg := subscribeConfig{report: func(error) {}, retryFirst: defaultRetryFirst, retryMax: defaultRetryMax}
	for _, opt := range opts {
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	subjects := []string{c.statusChangedSubject}
	if cfg.watchExpired {
		subjects = append(subjects, c.watchExpiredSubject)
	}
	cons, err := c.durableConsumer(ctx, durable, subjects)
	if err != nil {
		return nil, fmt.Errorf("subscribing %s to stream %s: %w", durable, c.eventStream, err)
	}
	sub, err := consume(ctx, cons, cfg.report, func(ctx context.Context, m jetstream.Msg) {
		cfg.handle(ctx, m, handler)
	}, jetstream.PullMaxMessages(subscribeBatch))
	if err != nil {
		return nil, fmt.Errorf("subscribing %s to stream %s: %w", durable, c.eventStream, err)
	}
	return sub, nil
}

// handle decodes one message, runs the handler and settles the message by
// its answer.
func (c *subscribeConfig) handle(ctx context.Context, m jetstream.Msg, handler func(context.Context, events.Event) error) {
	ev, err := decode(m)
	if err != nil {
		c.report(err)
		if err := m.TermWithReason("not a paybridge event"); err != nil {
			c.report(fmt.Errorf("terminating message on %s: %w", m.Subject(), err))
		}
		return
	}
	handlerErr := handler(withEventTrace(ctx, ev), ev)
	switch {
	case handlerErr == nil:
		// Acknowledged even after Stop: the work is done.
		err = m.DoubleAck(context.WithoutCancel(ctx))
	case isPermanent(handlerErr):
		err = m.TermWithReason("permanent handler error")
	default:
		delivered := uint64(1)
		if meta, metaErr := m.Metadata(); metaErr == nil {
			delivered = meta.NumDelivered
		}
		err = m.NakWithDelay(c.retryDelay(delivered))
	}
	if err != nil {
		c.report(fmt.Errorf("settling event %s: %w", ev.ID, err))
	}
}

// durableConsumer joins the durable consumer, or creates it. An existing
// consumer keeps its settings (where it starts, its ack wait, its limits:
// some cannot be changed, others an operator may have tuned); only a filter
// other than Subscribe's is updated. One that does not take explicit acks
// is refused: the server would refuse to change its ack policy (err_code
// 10012), and acks of another policy would settle events unhandled.
func (c *Client) durableConsumer(ctx context.Context, durable string, subjects []string) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{Durable: durable, AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: -1}
	existing, err := c.js.Consumer(ctx, c.eventStream, durable)
	switch {
	case err == nil:
		cfg = existing.CachedInfo().Config
		if cfg.AckPolicy != jetstream.AckExplicitPolicy {
			return nil, fmt.Errorf("consumer %s has ack policy %s, and JetStream cannot change it to the explicit acks Subscribe needs: "+
				"delete the consumer (nats consumer rm %s %s) or subscribe with another durable name", durable, cfg.AckPolicy, c.eventStream, durable)
		}
		if sameSubjects(filterSubjects(cfg), subjects) {
			return existing, nil
		}
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, err
	}
	cfg.FilterSubject, cfg.FilterSubjects = "", nil
	if len(subjects) == 1 {
		cfg.FilterSubject = subjects[0]
	} else {
		cfg.FilterSubjects = subjects
	}
	return c.js.CreateOrUpdateConsumer(ctx, c.eventStream, cfg)
}

// sameSubjects reports whether two filters name the same subjects, in any
// order: an operator who created the durable may have listed them
// otherwise, and an update it need not have would need the CREATE
// permission the contract lets a deployment withhold.
func sameSubjects(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// filterSubjects is a consumer's filter, however it is written.
func filterSubjects(cfg jetstream.ConsumerConfig) []string {
	if cfg.FilterSubject != "" {
		return []string{cfg.FilterSubject}
	}
	return cfg.FilterSubjects
}

// FollowConfig says what Follow reads.
type FollowConfig struct {
	// Subjects filters the events; empty means the client's status-changed
	// subject.
	Subjects []string
	// FromFirst starts at the first stored event instead of the next new one.
	FromFirst bool
	// OnError hears of each message that is not a paybridge event (an
	// *InvalidMessageError; it is skipped) and of the consumer's trouble,
	// which it recovers from by itself.
	OnError func(error)
}

// Follow hands events to handler as they are stored, in stream order,
// through an ordered consumer: nothing to acknowledge and nothing left on
// the server, for a display or a tool. A service that must not miss an
// event uses Subscribe. ctx bounds the setup; the handler's context carries
// ctx's values and the event's trace context, and is canceled by Stop.
func (c *Client) Follow(ctx context.Context, cfg FollowConfig, handler func(context.Context, events.Event)) (*Subscription, error) {
	if handler == nil {
		return nil, errors.New("Follow needs a handler")
	}
	subjects := cfg.Subjects
	if len(subjects) == 0 {
		subjects = []string{c.statusChangedSubject}
	}
	policy := jetstream.DeliverNewPolicy
	if cfg.FromFirst {
		policy = jetstream.DeliverAllPolicy
	}
	report := cfg.OnError
	if report == nil {
		report = func(error) {}
	}
	cons, err := c.js.OrderedConsumer(ctx, c.eventStream, jetstream.OrderedConsumerConfig{FilterSubjects: subjects, DeliverPolicy: policy})
	if err != nil {
		return nil, fmt.Errorf("following stream %s: %w", c.eventStream, err)
	}
	sub, err := consume(ctx, cons, report, func(ctx context.Context, m jetstream.Msg) {
		ev, err := decode(m)
		if err != nil {
			report(err)
			return
		}
		handler(withEventTrace(ctx, ev), ev)
	})
	if err != nil {
		return nil, fmt.Errorf("following stream %s: %w", c.eventStream, err)
	}
	return sub, nil
}

// consume runs deliver for each message of cons until the subscription
// stops. deliver's context carries ctx's values, not its deadline (ctx
// bounds the setup only), and ends with the subscription.
func consume(ctx context.Context, cons jetstream.Consumer, report func(error), deliver func(context.Context, jetstream.Msg), opts ...jetstream.PullConsumeOpt) (*Subscription, error) {
	handlerCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	opts = append(opts, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) { report(err) }))
	cc, err := cons.Consume(func(m jetstream.Msg) { deliver(handlerCtx, m) }, opts...)
	if err != nil {
		cancel()
		return nil, err
	}
	go func() {
		<-cc.Closed()
		cancel()
	}()
	return &Subscription{consume: cc, cancel: cancel}, nil
}

// decode reads m as a paybridge event; what is not one is an
// *InvalidMessageError.
func decode(m jetstream.Msg) (events.Event, error) {
	ev, err := events.DecodeJetStream(m)
	if err != nil {
		var seq uint64
		if meta, metaErr := m.Metadata(); metaErr == nil {
			seq = meta.Sequence.Stream
		}
		return ev, &InvalidMessageError{Subject: m.Subject(), Sequence: seq, Err: err}
	}
	return ev, nil
}
