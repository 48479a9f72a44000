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
	// the description tells a full subject (one watch per payment) from
	// other failures.
	errStoreFailed jetstream.ErrorCode = 10077
)

// watchOrder is the durable message of one watch, on
// <WatchSubject>.<key>, or of one webhook trigger, on <…>.<key>.trigger.
type watchOrder struct {
	Provider  string    `json:"provider"`
	PaymentID string    `json:"payment_id"`
	Since     time.Time `json:"since"`
	Deadline  time.Time `json:"deadline"`
	// Trigger names what asked for an immediate check: a webhook, which
	// becomes a watch when the payment is not settled, or a recheck.
	Trigger string `json:"trigger,omitempty"`
}

// What a trigger comes from.
const (
	triggerWebhook = "webhook"
	// triggerRecheck asks once more about a payment whose check was
	// compared with a record already replaced (view.follow).
	triggerRecheck = "recheck"
)

// watcher keeps re-checking watched payments until they settle or their
// deadline passes (SPEC section 6). Watches live in a work-queue stream
// with at most one message per payment, consumed by one durable consumer
// that every instance shares; the schedule is carried out with
// NakWithDelay, so it survives restarts of the bridge and of NATS.
type watcher struct {
	js       jetstream.JetStream
	stream   jetstream.Stream
	consumer jetstream.Consumer
	checker  *checker
	subject  string // the watch subject prefix
	schedule []time.Duration
	deadline time.Duration
	expired  string // the watch-expired event subject
	log      *slog.Logger
	metrics  *metrics
	now      func() time.Time

	held chan struct{} // one slot per watch held by this instance
	busy sync.WaitGroup
}

// ensureWatches creates the watch stream and its durable consumer when
// missing.
func ensureWatches(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.Stream, jetstream.Consumer, error) {
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{
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
		AllowDirect:          true,
	})
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		s, err = js.Stream(ctx, cfg.WatchStream)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("opening stream %s: %w", cfg.WatchStream, err)
	}
	c, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:     "paybridge-watches",
		Description: "shared by every paybridge instance",
		AckPolicy:   jetstream.AckExplicitPolicy,
		AckWait:     watchAckWait,
		MaxDeliver:  -1,
		// A watch waiting for its next poll stays pending, so this is the
		// number of watches, not of concurrent checks: no limit.
		MaxAckPending: -1,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("opening consumer of %s: %w", cfg.WatchStream, err)
	}
	return s, c, nil
}

func (w *watcher) subjectOf(provider, paymentID string) string {
	return w.subject + "." + Key(provider, paymentID)
}

// start watches a payment and returns the deadline of the watch in force:
// watching a watched payment changes nothing.
func (w *watcher) start(ctx context.Context, provider, paymentID string) (time.Time, error) {
	order := watchOrder{Provider: provider, PaymentID: paymentID}
	err := w.store(ctx, w.subjectOf(provider, paymentID), &order)
	return order.Deadline, err
}

// trigger stores a request to check a payment at once and then watch it
// until it settles. It returns once JetStream holds it.
func (w *watcher) trigger(ctx context.Context, provider, paymentID, by string) error {
	return w.store(ctx, w.subjectOf(provider, paymentID)+".trigger", &watchOrder{Provider: provider, PaymentID: paymentID, Trigger: by})
}

// store stamps the order with its start and deadline and stores it. A
// subject that already holds an order is left as it is, and order is
// filled from the one in force.
func (w *watcher) store(ctx context.Context, subject string, order *watchOrder) error {
	for range 3 {
		order.Since = w.now()
		order.Deadline = order.Since.Add(w.deadline)
		data, err := json.Marshal(order)
		if err != nil {
			return err
		}
		_, err = w.js.Publish(ctx, subject, data)
		if !subjectFull(err) {
			return err
		}
		held, err := w.stream.GetLastMsgForSubject(ctx, subject)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // the order in force ended in between: store ours
		}
		if err != nil {
			return err
		}
		// An order past its deadline is ending: the caller sees its
		// deadline and so that nothing is in force.
		return json.Unmarshal(held.Data, order)
	}
	return fmt.Errorf("%s keeps changing", subject)
}

// run hands due watches to their own goroutines until ctx ends, then waits
// for those in hand.
func (w *watcher) run(ctx context.Context) error {
	cc, err := w.consumer.Consume(func(msg jetstream.Msg) {
		select {
		case w.held <- struct{}{}:
		case <-ctx.Done():
			msg.Nak()
			return
		}
		w.busy.Add(1)
		go func() {
			defer func() { <-w.held; w.busy.Done() }()
			w.handle(ctx, msg)
		}()
	}, jetstream.PullMaxMessages(64), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		w.log.Debug("watch consumer", "error", err)
	}))
	if err != nil {
		return fmt.Errorf("consuming watches: %w", err)
	}
	<-ctx.Done()
	cc.Stop()
	w.busy.Wait()
	return nil
}

// handle carries out one delivery of a watch or trigger.
func (w *watcher) handle(ctx context.Context, msg jetstream.Msg) {
	stop := keepAlive(msg)
	defer stop()
	var order watchOrder
	meta, err := msg.Metadata()
	if err == nil {
		err = json.Unmarshal(msg.Data(), &order)
	}
	if err != nil || order.Provider == "" || order.PaymentID == "" {
		w.log.Error("unreadable watch dropped", "subject", msg.Subject(), "error", err)
		msg.Term()
		return
	}
	now := w.now()
	delivery := int(meta.NumDelivered)
	switch {
	case !now.Before(order.Deadline) && order.Trigger == "":
		w.expire(ctx, msg, order, meta.Sequence.Stream)
		return
	case !now.Before(order.Deadline):
		// A trigger whose checks kept failing until the deadline.
		w.log.Warn("trigger dropped: no successful check before its deadline", "trigger", order.Trigger,
			"provider", order.Provider, "payment_id", order.PaymentID, "attempts", delivery)
		w.ack(ctx, msg)
		return
	case order.Trigger == "" && delivery == 1 && now.Sub(order.Since) < w.schedule[0]:
		// The check that began the watch has just run.
		msg.NakWithDelay(w.schedule[0] - now.Sub(order.Since))
		return
	case order.Trigger == "":
		w.metrics.watchLag.Observe(max(0, now.Sub(w.due(order.Since, delivery))).Seconds())
	}

	// Waiting for budget must not outlive the order: a watch checked after
	// its deadline would be expired late, on a spent call.
	checkCtx, cancel := context.WithDeadline(ctx, order.Deadline)
	defer cancel()
	rep, err := w.checker.check(checkCtx, CheckRequest{Provider: order.Provider, PaymentID: order.PaymentID}, true)
	key := Key(order.Provider, order.PaymentID)
	switch {
	case ctx.Err() != nil:
		msg.Nak() // shutting down: another instance takes it now
	case err != nil:
		w.log.Info("watched payment not checked; will retry", "provider", order.Provider,
			"payment_id", order.PaymentID, "code", providers.ErrorCode(err), "error", err)
		msg.NakWithDelay(w.nextDelay(order, delivery, now))
	case order.Trigger == triggerWebhook && !rep.Terminal:
		if _, err := w.checker.withWatch(ctx, key, rep, true); err != nil {
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
		if err := w.checker.markWatched(ctx, key, order.Deadline); err != nil {
			w.log.Warn("watch not noted in the status record", "key", key, "error", err)
		}
		msg.NakWithDelay(w.nextDelay(order, delivery, now))
	}
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

// expire publishes the watch-expired event with the last known status and
// ends the watch.
func (w *watcher) expire(ctx context.Context, msg jetstream.Msg, order watchOrder, seq uint64) {
	key := Key(order.Provider, order.PaymentID)
	rec, _, found, err := w.checker.store.Get(ctx, key)
	if err != nil {
		msg.NakWithDelay(w.schedule[0])
		return
	}
	data := rec.StatusChanged
	if !found {
		data = events.StatusChanged{Provider: order.Provider, PaymentID: order.PaymentID,
			Status: providers.StatusUnknown, ObservedAt: w.now()}
	}
	id := watchExpiredID(order.Provider, order.PaymentID, seq)
	ev := events.NewWatchExpired(id, data)
	ev.Time = order.Deadline.UTC() // the event is the expiry; its data, the last known status
	if err := w.checker.publisher.Publish(ctx, w.expired, ev); err != nil {
		w.log.Error("watch-expired event not published; will retry", "event_id", id, "error", err)
		msg.NakWithDelay(w.schedule[0])
		return
	}
	w.metrics.watchesEnded.WithLabelValues("expired").Inc()
	w.log.Info("watch expired", "provider", order.Provider, "payment_id", order.PaymentID, "status", data.Status)
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
// returned stop is called.
func keepAlive(msg jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(watchAckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				msg.InProgress()
			}
		}
	}()
	return func() { close(done) }
}

// refreshGauge keeps the active-watches gauge current.
func (w *watcher) refreshGauge(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		if info, err := w.stream.Info(ctx); err == nil {
			w.metrics.watchesActive.Set(float64(info.State.Msgs))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
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
