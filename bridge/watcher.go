package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/providers"
)

const (
	// watchAckWait is how long a delivered watch may go unanswered before
	// JetStream hands it to another instance; a keep-alive renews it while
	// a watch waits for budget or for its provider.
	watchAckWait = 30 * time.Second
	// maxHeldWatches bounds the watches one instance holds at once.
	maxHeldWatches = 4096
	// errStoreFailed is JetStream's code for a message it did not store;
	// the description tells a full subject (one watch per payment) from a
	// full stream.
	errStoreFailed jetstream.ErrorCode = 10077
	// maxRefusals is how many permanent answers in a row (payment not
	// found, credentials refused) end a watch: asking on schedule for a
	// day would only spend the provider's budget.
	maxRefusals = 3
	// The watch stream's own limits, a backstop behind the per-provider
	// limit (Config.MaxWatches) that reserves no storage: a million
	// orders of at most 4 KiB each (one is a few hundred bytes; an id of
	// 256 bytes JSON-escaped is at most 1.5 KiB). A byte limit, which
	// JetStream would reserve, is Config.WatchStreamMaxBytes.
	watchStreamMaxMsgs = 1_000_000
	watchOrderMaxBytes = 4 << 10
	// legacyWatchConsumer is the one consumer of every provider's watches
	// before each provider had its own; it is removed at start.
	legacyWatchConsumer = "paybridge-watches"
)

// watcher keeps re-checking watched payments until they settle or their
// deadline passes (docs/contract.md, "Watches"). Watches live in a work-queue stream
// with at most one watch and one trigger per payment (each on its own
// subject), consumed by one durable consumer
// per provider that every instance shares; the schedule is carried out
// with NakWithDelay, so it survives restarts of the bridge and of NATS.
type watcher struct {
	js         jetstream.JetStream
	stream     jetstream.Stream
	consumers  map[string]jetstream.Consumer // by provider
	merchants  *merchants
	claims     *claimer
	subject    string // the watch subject prefix
	schedule   []time.Duration
	deadline   time.Duration
	maxWatches int    // per provider, watches and triggers
	expired    string // the watch-expired event subject
	log        *slog.Logger
	metrics    *metrics
	clock      Clock
	tracing    tracing

	held     chan struct{} // one slot per watch held by this instance
	mu       sync.Mutex
	stopping bool // set under mu before busy is waited for
	busy     sync.WaitGroup

	countsMu sync.Mutex
	counts   map[string]watchCount // by provider
}

// watchCount is how many orders a provider had stored, and when that was
// read.
type watchCount struct {
	n  int
	at time.Time
}

// ensureWatches opens the watch stream as it is, or creates it when
// missing, puts limits on a stream made without them, and creates one
// durable consumer per provider when missing.
func ensureWatches(ctx context.Context, js jetstream.JetStream, cfg Config, log *slog.Logger, providerNames []string) (jetstream.Stream, map[string]jetstream.Consumer, error) {
	want := jetstream.StreamConfig{
		Name:        cfg.WatchStream,
		Description: "paybridge: one durable watch per payment, and webhook triggers",
		Subjects:    []string{cfg.WatchSubject + ".>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		// One message per subject, and a second one is refused: asking
		// again to watch a watched payment changes nothing.
		MaxMsgsPerSubject:    1,
		Discard:              jetstream.DiscardNew,
		DiscardNewPerSubject: true,
		MaxMsgs:              watchStreamMaxMsgs,
		MaxMsgSize:           watchOrderMaxBytes,
		MaxBytes:             cfg.WatchStreamMaxBytes, // 0: none, unless the account requires one
		AllowDirect:          true,
	}
	s, err := ensureStream(ctx, js, want)
	if err == nil {
		s, err = limitWatchStream(ctx, js, s, want, log)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("opening stream %s: %w", cfg.WatchStream, err)
	}
	// A work-queue stream refuses consumers whose filters overlap, so
	// the consumer of every provider's watches goes first.
	if err := s.DeleteConsumer(ctx, legacyWatchConsumer); err == nil {
		log.Info("replaced the watch consumer of every provider with one per provider", "removed", legacyWatchConsumer)
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, nil, fmt.Errorf("removing consumer %s of %s: %w", legacyWatchConsumer, cfg.WatchStream, err)
	}
	consumers := make(map[string]jetstream.Consumer, len(providerNames))
	for _, name := range providerNames {
		c, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       watchConsumerName(name),
			Description:   "shared by every paybridge instance",
			FilterSubject: cfg.WatchSubject + "." + name + ".>",
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       watchAckWait,
			MaxDeliver:    -1,
			// A watch waiting for its next poll stays pending, so this is
			// the number of watches, not of concurrent checks: no limit.
			MaxAckPending: -1,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("opening consumer of %s for %s: %w", cfg.WatchStream, name, err)
		}
		consumers[name] = c
	}
	return s, consumers, nil
}

// watchConsumerName is the durable consumer of one provider's watches.
func watchConsumerName(provider string) string { return "paybridge-watches-" + provider }

// limitWatchStream gives a watch stream created without limits (by an
// earlier version) the message limits a new one gets, which reserve no
// storage, and says so. A stream with limits of its own is left as the
// operator set it.
func limitWatchStream(ctx context.Context, js jetstream.JetStream, s jetstream.Stream, want jetstream.StreamConfig, log *slog.Logger) (jetstream.Stream, error) {
	have := s.CachedInfo().Config
	if have.MaxMsgs > 0 || have.MaxBytes > 0 {
		return s, nil
	}
	have.MaxMsgs, have.MaxMsgSize, have.Discard = want.MaxMsgs, want.MaxMsgSize, jetstream.DiscardNew
	s, err := js.UpdateStream(ctx, have)
	if err != nil {
		return nil, fmt.Errorf("adding limits: %w", err)
	}
	log.Info("added limits to the watch stream", "stream", have.Name, "max_msgs", have.MaxMsgs, "max_msg_size", have.MaxMsgSize)
	return s, nil
}

func (w *watcher) subjectOf(p Payment) string {
	return w.subject + "." + p.Key()
}

// Start implements Watches: it watches a payment and returns the deadline
// of the watch in force; watching a watched payment changes nothing.
func (w *watcher) Start(ctx context.Context, p Payment) (time.Time, error) {
	order := watchOrder{Provider: p.Provider, Account: p.Account, PaymentID: p.ID}
	err := w.store(ctx, w.subjectOf(p), &order)
	return order.Deadline, err
}

// trigger stores a request to check a payment at once and then watch it
// until it settles. It returns once JetStream holds it.
func (w *watcher) trigger(ctx context.Context, p Payment, by string) error {
	return w.store(ctx, w.subjectOf(p)+".trigger", &watchOrder{Provider: p.Provider, Account: p.Account, PaymentID: p.ID, Trigger: by})
}

// store stamps the order with its start and deadline and stores it. A
// subject that already holds an order is left as it is, and order is
// filled from the one in force; a provider with as many orders as it may
// have, or a full stream, gets no new one (overloaded).
func (w *watcher) store(ctx context.Context, subject string, order *watchOrder) error {
	for range 3 {
		order.Since = w.clock.Now()
		order.Deadline = order.Since.Add(w.deadline)
		data, err := json.Marshal(order)
		if err != nil {
			return err
		}
		full := w.roomFor(ctx, order.Provider)
		if full == nil {
			_, err = w.js.Publish(ctx, subject, data)
			full = streamFull(err)
		}
		if full == nil && !subjectFull(err) {
			return err
		}
		held, err := w.stream.GetLastMsgForSubject(ctx, subject)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound) && full != nil:
			return full
		case errors.Is(err, jetstream.ErrMsgNotFound):
			continue // the order in force ended in between: store ours
		case err != nil:
			return err
		}
		// An order past its deadline is ending: the caller sees its
		// deadline and so that nothing is in force.
		return json.Unmarshal(held.Data, order)
	}
	return fmt.Errorf("%s keeps changing", subject)
}

// roomFor takes room for one new order of provider, or refuses it when
// the provider has MaxWatches stored. The count is read from the
// provider's consumer at most once a second and counts this instance's own
// orders in between, so a burst of watch requests costs one JetStream
// request a second, and the limit is overshot only by what other
// instances store within that second.
func (w *watcher) roomFor(ctx context.Context, provider string) error {
	now := w.clock.Now()
	w.countsMu.Lock()
	stale := now.Sub(w.counts[provider].at) > time.Second
	w.countsMu.Unlock()
	var stored int
	if stale {
		cons := w.consumers[provider]
		if cons == nil {
			return nil
		}
		info, err := cons.Info(ctx)
		if err != nil {
			return fmt.Errorf("counting the watches of %s: %w", provider, err)
		}
		stored = int(info.NumPending) + info.NumAckPending
	}
	// Taken under one lock, so that concurrent orders each count; the
	// consumer's count replaces only one still stale (no other order
	// refreshed it meanwhile).
	w.countsMu.Lock()
	defer w.countsMu.Unlock()
	if stale && now.Sub(w.counts[provider].at) > time.Second {
		w.counts[provider] = watchCount{n: stored, at: now}
	}
	count := w.counts[provider]
	if count.n >= w.maxWatches {
		return paybridge.Errorf(paybridge.CodeOverloaded,
			"%s has %d watches and triggers, as many as the bridge keeps; not watched", provider, count.n)
	}
	count.n++
	w.counts[provider] = count
	return nil
}

// streamFull turns the watch stream refusing a message for its own limits
// into an overloaded error; any other error is nil.
func streamFull(err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == errStoreFailed &&
		(strings.Contains(apiErr.Description, "maximum messages exceeded") || strings.Contains(apiErr.Description, "maximum bytes exceeded")) {
		return paybridge.Errorf(paybridge.CodeOverloaded, "the watch stream is full; not watched")
	}
	return nil
}

// run hands due watches of every provider to chk on their own goroutines
// until ctx ends, then waits for those in hand.
func (w *watcher) run(ctx context.Context, chk *checker) error {
	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
		w.mu.Lock()
		w.stopping = true
		w.mu.Unlock()
		w.busy.Wait()
	}()
	for name, cons := range w.consumers {
		cc, err := cons.Consume(func(msg jetstream.Msg) { w.take(ctx, chk, msg) },
			jetstream.PullMaxMessages(64), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				w.log.Debug("watch consumer", "provider", name, "error", err)
			}))
		if err != nil {
			return fmt.Errorf("consuming watches of %s: %w", name, err)
		}
		stops = append(stops, cc.Stop)
	}
	<-ctx.Done()
	return nil
}

// take handles a delivered watch on its own goroutine once this instance
// may hold one more. A message delivered while stopping goes back at once.
func (w *watcher) take(ctx context.Context, chk *checker, msg jetstream.Msg) {
	select {
	case w.held <- struct{}{}:
	case <-ctx.Done():
		msg.Nak()
		return
	}
	w.mu.Lock()
	if w.stopping {
		w.mu.Unlock()
		<-w.held
		msg.Nak()
		return
	}
	w.busy.Add(1)
	w.mu.Unlock()
	go func() {
		defer func() { <-w.held; w.busy.Done() }()
		w.handle(ctx, chk, msg)
	}()
}

// handle carries out one delivery of a watch or trigger.
func (w *watcher) handle(ctx context.Context, chk *checker, msg jetstream.Msg) {
	stop := keepAlive(w.clock, msg)
	defer stop()
	now := w.clock.Now()
	meta, err := msg.Metadata()
	var order watchOrder
	if err == nil {
		order, err = w.decodeWatchOrder(msg.Subject(), msg.Data(), now)
	}
	if err != nil {
		// Never retried: it would fail the same way every time.
		w.log.Warn("invalid watch order dropped", "subject", providers.Truncate(msg.Subject(), 120), "error", err)
		w.metrics.watchesEnded.WithLabelValues("invalid").Inc()
		msg.Term()
		return
	}
	delivery := int(meta.NumDelivered)
	switch {
	case !now.Before(order.Deadline) && order.Trigger == "":
		w.expire(ctx, msg, order, meta.Sequence.Stream, expiredAtDeadline)
		return
	case !now.Before(order.Deadline):
		// A trigger whose checks kept failing until the deadline.
		w.log.Warn("trigger dropped: no successful check before its deadline", "trigger", order.Trigger,
			"provider", order.Provider, "account", order.Account, "payment_id", order.PaymentID, "attempts", delivery)
		w.metrics.watchesEnded.WithLabelValues("expired").Inc()
		w.ack(ctx, msg)
		return
	case order.Trigger == "" && delivery == 1 && now.Sub(order.Since) < w.schedule[0]:
		// The check that began the watch has just run.
		msg.NakWithDelay(w.schedule[0] - now.Sub(order.Since))
		return
	case order.Trigger == "":
		w.metrics.watchLag.Observe(max(0, now.Sub(w.due(order.Since, delivery))).Seconds())
	case order.Trigger == triggerWebhook:
		if wait, err := w.webhookQuiet(ctx, order, now); err != nil || wait > 0 {
			msg.NakWithDelay(max(wait, time.Second))
			return
		}
	}

	rep, err := w.check(ctx, chk, order)
	key := order.payment().Key()
	switch code := paybridge.ErrorCode(err); {
	case ctx.Err() != nil:
		msg.Nak() // shutting down: another instance takes it now
	case permanent(code) && order.Trigger == "":
		w.expire(ctx, msg, order, meta.Sequence.Stream, string(code))
	case permanent(code):
		w.log.Warn("trigger dropped: the provider refused it", "trigger", order.Trigger,
			"provider", order.Provider, "account", order.Account, "payment_id", order.PaymentID, "code", code)
		w.metrics.watchesEnded.WithLabelValues(string(code)).Inc()
		w.ack(ctx, msg)
	case err != nil:
		w.log.Info("watched payment not checked; will retry", "provider", order.Provider, "account", order.Account,
			"payment_id", order.PaymentID, "code", code, "error", err)
		msg.NakWithDelay(w.nextDelay(order, delivery, now))
	case order.Trigger == triggerWebhook && !rep.Terminal:
		_, err := chk.withWatch(ctx, key, rep, true)
		switch code := paybridge.ErrorCode(err); {
		case code == paybridge.CodeOverloaded:
			// Asking again would spend a provider call on every delivery
			// until the deadline: the webhook's check is done, unwatched.
			w.log.Warn("webhook's payment checked but not watched: its provider has as many watches as the bridge keeps",
				"provider", order.Provider, "account", order.Account, "payment_id", order.PaymentID)
			w.metrics.watchesEnded.WithLabelValues(string(code)).Inc()
		case err != nil:
			msg.NakWithDelay(w.schedule[0])
			return
		}
		w.ack(ctx, msg)
	case order.Trigger != "":
		w.ack(ctx, msg)
	case rep.Terminal:
		w.metrics.watchesEnded.WithLabelValues("settled").Inc()
		w.ack(ctx, msg)
	default:
		// A watch begun while the payment had no record (a failed or
		// unknown first check) is written into the record now.
		if err := w.claims.markWatched(ctx, key, order.Deadline); err != nil {
			w.log.Warn("watch not noted in the status record", "key", key, "error", err)
		}
		msg.NakWithDelay(w.nextDelay(order, delivery, now))
	}
}

// A webhook says that something changed; a replayed one says nothing new.
// So a webhook trigger asks the provider only once its payment was last
// asked at least this long ago (docs/contract.md, "After the 200"): a
// settled payment can still move (paid → refunded), but rarely. Until
// then the trigger waits in the stream, where it holds its subject: the
// replays stored meanwhile are one trigger.
const (
	webhookQuietUnsettled = 5 * time.Second
	webhookQuietSettled   = time.Minute
)

// webhookQuiet is how long a webhook trigger must wait before its check.
func (w *watcher) webhookQuiet(ctx context.Context, order watchOrder, now time.Time) (time.Duration, error) {
	e, found, err := w.claims.read(ctx, order.payment().Key(), false)
	if err != nil || !found {
		return 0, err
	}
	quiet := webhookQuietUnsettled
	if e.status.Status().Terminal() {
		quiet = webhookQuietSettled
	}
	return e.checkedAt().Add(quiet).Sub(now), nil
}

// check asks about a watched payment. A permanent answer (no such payment,
// credentials refused) is asked again, up to maxRefusals times a first
// schedule step apart, before it counts: the caller then ends the watch.
// Waiting for budget never outlives the order: a watch checked after its
// deadline would be expired late, on a spent call.
func (w *watcher) check(ctx context.Context, chk *checker, order watchOrder) (rep paybridge.Reply, err error) {
	ctx, cancel := context.WithDeadline(ctx, order.Deadline)
	defer cancel()
	// A watch's check starts a trace of its own: nobody is waiting on it.
	ctx, span := w.tracing.start(ctx, "paybridge.watch_check", trace.SpanKindInternal)
	if w.tracing.on {
		span.SetAttributes(attrProvider.String(order.Provider), attrPaymentID.String(order.PaymentID))
	}
	defer func() { endSpan(span, err) }()
	req := CheckRequest{Provider: order.Provider, Account: order.Account, PaymentID: order.PaymentID}
	for refusals := 1; ; refusals++ {
		rep, err = chk.check(ctx, req, true)
		if !permanent(paybridge.ErrorCode(err)) || refusals == maxRefusals {
			return rep, err
		}
		if !sleep(ctx, w.clock, w.schedule[0]) {
			return rep, err
		}
	}
}

// permanent reports whether an answer with this code will not change by
// asking again on schedule.
func permanent(code paybridge.Code) bool {
	return code == paybridge.CodePaymentNotFound || code == paybridge.CodeProviderAuthFailed || code == paybridge.CodeUnknownAccount
}

// nextDelay is the wait after the given delivery: the schedule's step for
// it (the last step repeating), cut short by the deadline.
func (w *watcher) nextDelay(order watchOrder, delivery int, now time.Time) time.Duration {
	d := w.schedule[min(delivery-1, len(w.schedule)-1)]
	if left := order.Deadline.Sub(now); left < d {
		d = max(left, 0)
	}
	return d
}

// due is when the given delivery of a watch begun at since should happen
// by the schedule alone; a later delivery is lag.
func (w *watcher) due(since time.Time, delivery int) time.Time {
	at := since
	for i := range delivery - 1 {
		at = at.Add(w.schedule[min(i, len(w.schedule)-1)])
	}
	return at
}

// Why a watch ended before its payment settled, as its watch-expired event
// says: the deadline passed, or the provider's permanent answer (an error
// code).
const expiredAtDeadline = "deadline"

// expire publishes the watch-expired event with the last known status and
// why the watch ended, and ends the watch.
func (w *watcher) expire(ctx context.Context, msg jetstream.Msg, order watchOrder, seq uint64, reason string) {
	pay := order.payment()
	rec, _, found, err := w.claims.store.Get(ctx, pay.Key())
	if err != nil {
		msg.NakWithDelay(w.schedule[0])
		return
	}
	data := rec.StatusChanged
	if !found {
		data = events.StatusChanged{Provider: order.Provider, Account: order.Account, PaymentID: order.PaymentID,
			Status: paybridge.StatusUnknown, ObservedAt: w.clock.Now()}
	}
	data.Reason = reason
	id := pay.watchExpiredID(seq)
	ev := events.NewWatchExpired(id, data)
	ev.Time = w.clock.Now() // the event is the expiry; its data, the last known status
	if reason == expiredAtDeadline {
		ev.Time = order.Deadline.UTC()
	}
	if err := w.claims.announcer.Announce(ctx, w.expired, ev); err != nil {
		w.log.Error("watch-expired event not published; will retry", "event_id", id, "error", err)
		msg.NakWithDelay(w.schedule[0])
		return
	}
	outcome := "expired"
	if reason != expiredAtDeadline {
		outcome = reason
	}
	w.metrics.watchesEnded.WithLabelValues(outcome).Inc()
	w.log.Info("watch expired", "provider", order.Provider, "account", order.Account, "payment_id", order.PaymentID,
		"status", data.Status, "reason", reason)
	w.ack(ctx, msg)
}

// ack ends a watch, waiting for JetStream to confirm so that a crash
// cannot bring back a watch already ended.
func (w *watcher) ack(ctx context.Context, msg jetstream.Msg) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := msg.DoubleAck(ctx); err != nil {
		w.log.Warn("watch not acknowledged; it may be checked once more", "subject", msg.Subject(), "error", err)
	}
}

// keepAlive tells JetStream the message is still being worked on until the
// returned stop is called, which returns once the keep-alives have.
func keepAlive(clock Clock, msg jetstream.Msg) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-clock.After(watchAckWait / 3):
				msg.InProgress()
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// refreshGauge keeps the active-watches gauge current.
func (w *watcher) refreshGauge(ctx context.Context) {
	for {
		if info, err := w.stream.Info(ctx); err == nil {
			w.metrics.watchesActive.Set(float64(info.State.Msgs))
		}
		if !sleep(ctx, w.clock, 5*time.Second) {
			return
		}
	}
}

// subjectFull reports whether err is the watch stream refusing a second
// message on a subject that holds one.
func subjectFull(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == errStoreFailed &&
		strings.Contains(apiErr.Description, "maximum messages per subject")
}
