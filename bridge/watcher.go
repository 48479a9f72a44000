package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
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
	// maxRefusals is how many permanent answers in a row (payment not
	// found, credentials refused) end a watch: asking on schedule for a
	// day would only spend the provider's budget.
	maxRefusals = 3
	// The watch stream's own limits, a backstop behind the per-provider
	// limit (Config.MaxWatches): two million messages of at most 4 KiB
	// each (an order is a few hundred bytes; an id of 256 bytes
	// JSON-escaped is at most 1.5 KiB), room for a million watches (one
	// message each, two for a moment while one is due) and their
	// triggers. A stream that schedules messages cannot refuse what is
	// past its limits (discard new), it would drop its oldest messages,
	// its oldest watches: so the count is the bridge's to keep (roomFor),
	// and the stream has none. A byte limit, which JetStream would
	// reserve, is Config.WatchStreamMaxBytes; the bridge refuses new
	// orders once a tenth of it is left.
	watchStreamMaxMsgs = 2_000_000
	watchOrderMaxBytes = 4 << 10
	// legacyWatchConsumer is the one consumer of every provider's watches
	// before each provider had its own; it is removed at start.
	legacyWatchConsumer = "paybridge-watches"
	// scheduledToken names the subjects of the watches waiting for their
	// next check, <WatchSubject>.at.<key>; no provider may have it for a
	// name.
	scheduledToken = "at"
)

// watcher keeps re-checking watched payments until they settle or their
// deadline passes (docs/contract.md, "Watches"). Each watch is one message
// in a work-queue stream at any moment: while it waits for its next check,
// a message schedule on <WatchSubject>.at.<key> that JetStream fires at
// the check's time onto <WatchSubject>.<key>; that due message is
// delivered by the provider's durable consumer, which every instance
// shares, to one instance, which checks the payment, schedules the next
// check and acknowledges the due message. Webhook triggers wait on
// <WatchSubject>.<key>.trigger, delivered at once. Schedules and due
// messages are stored, so watches survive restarts of the bridge and of
// NATS; JetStream's timer wheel costs the same per check whatever the
// number of watches, where a consumer holding every watch as pending (a
// nak with delay) scans them all each time its redelivery timer is reset.
type watcher struct {
	js        jetstream.JetStream
	stream    jetstream.Stream
	consumers map[string]jetstream.Consumer // by provider: its due watches and triggers
	scheduled map[string]jetstream.Consumer // by provider: never pulled, counts its scheduled watches
	merchants *merchants
	claims    *claimer
	subject   string // the watch subject prefix
	schedule  []time.Duration
	deadline  time.Duration
	// callTimeout bounds one provider call (Config.CheckTimeout); a
	// check of a repeating schedule starts none it could not end before
	// the next firing.
	callTimeout time.Duration
	maxWatches  int    // per provider, watches and triggers
	expired     string // the watch-expired event subject
	log         *slog.Logger
	metrics     *metrics
	clock       Clock
	tracing     tracing

	held          *heldWatches // the due watches this instance holds (held.go)
	webhookChecks webhookChecks
	// workers carry out the deliveries (workers.go).
	workers *workers[jetstream.Msg]
	// hand is the deliveries in hand, by when they were taken, for the
	// keep-alives.
	handMu sync.Mutex
	hand   map[jetstream.Msg]time.Time
	// server is the NATS server's clock, read from the time it stamps on
	// the stream infos (serverclock.go).
	server serverClock

	countsMu sync.Mutex
	counts   map[string]watchCount // by provider
	stored   streamCount
}

// watchCount is how many orders a provider had stored, and when that was
// read.
type watchCount struct {
	n  int
	at time.Time
}

// ensureWatches opens the watch stream as it is, or creates it when
// missing, lets a stream of an earlier version schedule messages, and
// creates two durable consumers per provider when missing: one that
// delivers its due watches and triggers, and one, never pulled, whose
// pending count is its scheduled watches.
func ensureWatches(ctx context.Context, js jetstream.JetStream, cfg Config, log *slog.Logger, providerNames []string) (
	s jetstream.Stream, consumers, scheduled map[string]jetstream.Consumer, err error) {
	for _, name := range providerNames {
		if name == scheduledToken {
			return nil, nil, nil, fmt.Errorf("a provider may not be named %q: %s.%s.> holds the scheduled watches", name, cfg.WatchSubject, name)
		}
	}
	if v := js.Conn().ConnectedServerVersion(); !schedulesMessages(v) {
		// Before touching the stream: an earlier version's stream stays
		// as it was on a server that could not schedule its watches.
		return nil, nil, nil, fmt.Errorf("nats-server %s: %w", v, ErrNoMsgSchedules)
	}
	want := jetstream.StreamConfig{
		Name:        cfg.WatchStream,
		Description: "paybridge: one durable watch per payment, and webhook triggers",
		Subjects:    []string{cfg.WatchSubject + ".>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		// One message per subject: a watch's schedule, its due check, a
		// trigger. A second order on a subject is refused by its publish,
		// which expects the subject empty.
		MaxMsgsPerSubject: 1,
		Discard:           jetstream.DiscardOld, // schedules allow no other
		MaxMsgSize:        watchOrderMaxBytes,
		MaxBytes:          cfg.WatchStreamMaxBytes, // 0: none, unless the account requires one
		AllowDirect:       true,
		AllowMsgSchedules: true,
		AllowRollup:       true, // a schedule rolls its subject up
	}
	s, err = ensureStream(ctx, js, want)
	if err == nil {
		s, err = scheduleWatchStream(ctx, js, s, log)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("opening stream %s: %w", cfg.WatchStream, err)
	}
	// A work-queue stream refuses consumers whose filters overlap, so
	// the consumer of every provider's watches goes first.
	if err := s.DeleteConsumer(ctx, legacyWatchConsumer); err == nil {
		log.Info("replaced the watch consumer of every provider with one per provider", "removed", legacyWatchConsumer)
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, nil, nil, fmt.Errorf("removing consumer %s of %s: %w", legacyWatchConsumer, cfg.WatchStream, err)
	}
	consumers = make(map[string]jetstream.Consumer, len(providerNames))
	scheduled = make(map[string]jetstream.Consumer, len(providerNames))
	for _, name := range providerNames {
		c, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       watchConsumerName(name),
			Description:   "shared by every paybridge instance",
			FilterSubject: cfg.WatchSubject + "." + name + ".>",
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       watchAckWait,
			MaxDeliver:    -1,
			// Pending acks are the due checks in hand and the triggers
			// waiting to be asked again, and (from an earlier version)
			// watches waiting out a nak: no limit, so that those never
			// hold up the due checks.
			MaxAckPending: -1,
		})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("opening consumer of %s for %s: %w", cfg.WatchStream, name, err)
		}
		consumers[name] = c
		c, err = s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       scheduledConsumerName(name),
			Description:   "never pulled: its pending count is the watches scheduled",
			FilterSubject: cfg.WatchSubject + "." + scheduledToken + "." + name + ".>",
			AckPolicy:     jetstream.AckExplicitPolicy,
		})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("opening consumer of %s for %s: %w", cfg.WatchStream, name, err)
		}
		scheduled[name] = c
	}
	return s, consumers, scheduled, nil
}

// ErrNoMsgSchedules is why a bridge does not start on a NATS server that
// cannot schedule messages (before 2.12): watches wait as schedules.
var ErrNoMsgSchedules = errors.New("the NATS server does not schedule messages (allow_msg_schedules): watches need nats-server 2.12 or later")

// schedulesMessages reports whether a nats-server of version v (as its
// INFO gives it: "2.11.9", "2.12.0-RC.1") schedules messages: 2.12 or
// later. A server in a cluster of mixed versions is caught after the
// stream is opened, by its configuration.
func schedulesMessages(v string) bool {
	major, rest, _ := strings.Cut(v, ".")
	minor, _, _ := strings.Cut(rest, ".")
	maj, err1 := strconv.Atoi(major)
	mnr, err2 := strconv.Atoi(minor)
	if err1 != nil || err2 != nil {
		return true // not a version this knows: the stream's configuration will tell
	}
	return maj > 2 || maj == 2 && mnr >= 12
}

// watchConsumerName is the durable consumer of one provider's watches.
func watchConsumerName(provider string) string { return "paybridge-watches-" + provider }

// scheduledConsumerName is the durable consumer, never pulled, that counts
// one provider's scheduled watches.
func scheduledConsumerName(provider string) string { return "paybridge-watches-scheduled-" + provider }

// maxMsgsMetadata is the stream metadata that holds an operator's message
// limit for the watch stream, which the bridge keeps.
const maxMsgsMetadata = "paybridge_max_msgs"

// maxWatchMsgs is the most messages the bridge lets the watch stream hold:
// its operator's limit, or two million.
func maxWatchMsgs(cfg jetstream.StreamConfig) uint64 {
	if n, err := strconv.ParseUint(cfg.Metadata[maxMsgsMetadata], 10, 64); err == nil && n > 0 {
		return min(n, watchStreamMaxMsgs)
	}
	return watchStreamMaxMsgs
}

// legacyWatchMaxMsgs is the message limit versions before the schedules
// set on the watch stream: not an operator's, so not kept.
const legacyWatchMaxMsgs = 1_000_000

// scheduleWatchStream lets a watch stream of an earlier version schedule
// messages: it allows schedules and roll-ups, and discards old messages
// instead of refusing new ones, as schedules require; a message limit,
// which would then drop the oldest watches, is removed, and kept by the
// bridge instead (roomFor; an operator's lower one in the stream's
// metadata). A byte limit stays; the bridge refuses new orders before it
// is reached. It says so.
func scheduleWatchStream(ctx context.Context, js jetstream.JetStream, s jetstream.Stream, log *slog.Logger) (jetstream.Stream, error) {
	have := s.CachedInfo().Config
	if have.AllowMsgSchedules && have.Discard == jetstream.DiscardOld && have.MaxMsgs <= 0 {
		return s, nil
	}
	limit := have.MaxMsgs
	if limit > 0 && limit != legacyWatchMaxMsgs {
		// An operator's: the bridge keeps it.
		have.Metadata = maps.Clone(have.Metadata)
		if have.Metadata == nil {
			have.Metadata = map[string]string{}
		}
		have.Metadata[maxMsgsMetadata] = strconv.FormatInt(limit, 10)
	}
	have.AllowMsgSchedules, have.AllowRollup, have.DenyPurge = true, true, false
	have.Discard, have.DiscardNewPerSubject, have.MaxMsgs = jetstream.DiscardOld, false, -1
	if have.MaxMsgSize <= 0 {
		have.MaxMsgSize = watchOrderMaxBytes
	}
	s, err := js.UpdateStream(ctx, have)
	if err != nil {
		return nil, fmt.Errorf("letting it schedule messages: %w", err)
	}
	if !s.CachedInfo().Config.AllowMsgSchedules {
		// A server before 2.12 ignores the setting (a stream created
		// here comes this way too): its schedules would never fire, and
		// no watch would be checked again.
		return nil, ErrNoMsgSchedules
	}
	log.Info("the watch stream now schedules its watches' checks", "stream", have.Name,
		"removed_max_msgs", limit, "max_msgs_kept_by_the_bridge", maxWatchMsgs(have))
	return s, nil
}

// subjectOf is where a payment's watch is due, and its trigger's prefix.
func (w *watcher) subjectOf(p Payment) string {
	return w.subject + "." + p.Key()
}

// scheduledSubjectOf is where a payment's watch waits for its next check.
func (w *watcher) scheduledSubjectOf(p Payment) string {
	return w.subject + "." + scheduledToken + "." + p.Key()
}

// Start implements Watches: it watches a payment and returns the deadline
// of the watch in force; watching a watched payment changes nothing. The
// watch's first check is due a first step of the schedule from now: the
// check that began it has just run.
func (w *watcher) Start(ctx context.Context, p Payment) (time.Time, error) {
	order := watchOrder{Provider: p.Provider, Account: p.Account, PaymentID: p.ID}
	err := w.store(ctx, w.scheduledSubjectOf(p), &order)
	return order.Deadline, err
}

// trigger stores a request to check a payment at once and then watch it
// until it settles. It returns once JetStream holds it.
func (w *watcher) trigger(ctx context.Context, p Payment, by string) error {
	return w.store(ctx, w.subjectOf(p)+".trigger", &watchOrder{Provider: p.Provider, Account: p.Account, PaymentID: p.ID, Trigger: by})
}

// store stamps the order with its start and deadline (and a watch with its
// first check's time) and stores it. A subject that already holds an order
// is left as it is, and order is filled from the one in force; a provider
// with as many orders as it may have, or a full stream, gets no new one
// (overloaded).
func (w *watcher) store(ctx context.Context, subject string, order *watchOrder) error {
	for range 3 {
		counted, full := w.roomFor(ctx, order.Provider)
		order.Since = w.clock.Now()
		order.Deadline = order.Since.Add(w.deadline)
		if order.Trigger == "" {
			order.Due, order.Rechecks = w.firstDue(*order), 0
		}
		var err error
		if full == nil {
			if err = w.publish(ctx, subject, order); err != nil {
				w.giveBackRoom(order.Provider, counted) // not stored: a no-op takes no room
			}
		}
		if full == nil && !subjectHeld(err) {
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

// publish stores order on subject, which must hold none (else subjectHeld
// tells the error). A watch's order is a message schedule that JetStream
// fires at order.Due onto the subject where the watch is due, and removes.
func (w *watcher) publish(ctx context.Context, subject string, order *watchOrder) error {
	data, err := json.Marshal(order)
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
	if order.Trigger == "" {
		// @every fires every step, on whole seconds of the server's
		// clock, from the second nearest to when it is stored; @at, RFC
		// 3339 with the fraction, to the nanosecond on the server's
		// timer's quarter-second rounds.
		pattern := "@at " + w.server.serverTime(order.Due).UTC().Format(time.RFC3339Nano)
		if order.Every > 0 {
			pattern = "@every " + order.Every.String()
		}
		msg.Header.Set(jetstream.ScheduleHeader, pattern)
		msg.Header.Set(jetstream.ScheduleTargetHeader, w.subjectOf(order.payment()))
		order.setSchedule(msg.Header)
	}
	_, err = w.js.PublishMsg(ctx, msg)
	return err
}

// roomFor takes room for one new order of provider, or refuses it when
// the provider has MaxWatches stored or the stream is full. The counts are
// read from the provider's consumers and the stream at most once a second
// and count this instance's own orders in between, so a burst of watch
// requests costs three JetStream requests a second, and the limits are
// overshot only by what other instances store within that second. It
// tells when the count it took room in was read, for giveBackRoom.
func (w *watcher) roomFor(ctx context.Context, provider string) (counted time.Time, err error) {
	if w.consumers[provider] == nil {
		return time.Time{}, nil
	}
	now := w.clock.Now()
	w.countsMu.Lock()
	stale := now.Sub(w.counts[provider].at) > time.Second
	w.countsMu.Unlock()
	var fresh watchCount
	var stream *jetstream.StreamInfo
	if stale {
		var err error
		if fresh, stream, err = w.count(ctx, provider); err != nil {
			return time.Time{}, err
		}
		fresh.at = now
	}
	// Taken under one lock, so that concurrent orders each count; a count
	// read replaces only one still stale (no other order refreshed it
	// meanwhile).
	w.countsMu.Lock()
	defer w.countsMu.Unlock()
	if stale && now.Sub(w.counts[provider].at) > time.Second {
		w.counts[provider] = fresh
	}
	if stream != nil && now.Sub(w.stored.at) > time.Second {
		w.stored = streamCount{msgs: stream.State.Msgs, bytes: stream.State.Bytes, at: now,
			maxMsgs: maxWatchMsgs(stream.Config), maxBytes: stream.Config.MaxBytes}
	}
	count := w.counts[provider]
	switch {
	case w.stored.full():
		return time.Time{}, paybridge.Errorf(paybridge.CodeOverloaded, "the watch stream is full; not watched")
	case count.n >= w.maxWatches:
		return time.Time{}, paybridge.Errorf(paybridge.CodeOverloaded,
			"%s has %d watches and triggers, as many as the bridge keeps; not watched", provider, count.n)
	}
	count.n++
	w.counts[provider] = count
	w.stored.msgs++
	w.stored.bytes += watchOrderBytes
	return count.at, nil
}

// giveBackRoom gives back the room roomFor took, in the count read at
// counted, for an order that was not stored (its payment already watched,
// say): a count read since knows nothing of it.
func (w *watcher) giveBackRoom(provider string, counted time.Time) {
	if w.consumers[provider] == nil {
		return
	}
	w.countsMu.Lock()
	defer w.countsMu.Unlock()
	if count := w.counts[provider]; count.at.Equal(counted) && count.n > 0 {
		count.n--
		w.counts[provider] = count
	}
	if !w.stored.at.After(counted) && w.stored.msgs > 0 {
		w.stored.msgs--
		w.stored.bytes -= min(w.stored.bytes, watchOrderBytes)
	}
}

// watchOrderBytes is about what one order takes in the stream.
const watchOrderBytes = 512

// streamCount is what the watch stream held, and when that was read, with
// its limits.
type streamCount struct {
	msgs, bytes uint64
	at          time.Time
	maxMsgs     uint64
	maxBytes    int64 // 0: none
}

// full reports whether the stream may take no more orders: it holds its
// most messages, or is within a tenth of its byte limit (past which it
// would drop its oldest watches).
func (c streamCount) full() bool {
	return c.maxMsgs > 0 && c.msgs >= c.maxMsgs || c.maxBytes > 0 && c.bytes >= uint64(c.maxBytes-c.maxBytes/10)
}

// count reads how many orders provider has stored (its due watches and
// triggers, delivered or not, and its scheduled watches), and the watch
// stream's state.
func (w *watcher) count(ctx context.Context, provider string) (watchCount, *jetstream.StreamInfo, error) {
	info, err := w.consumers[provider].Info(ctx)
	if err != nil {
		return watchCount{}, nil, fmt.Errorf("counting the watches of %s: %w", provider, err)
	}
	c := watchCount{n: int(info.NumPending) + info.NumAckPending}
	if sched := w.scheduled[provider]; sched != nil {
		if info, err = sched.Info(ctx); err != nil {
			return watchCount{}, nil, fmt.Errorf("counting the watches of %s: %w", provider, err)
		}
		c.n += int(info.NumPending)
	}
	stream, err := w.streamInfo(ctx)
	if err != nil {
		return watchCount{}, nil, fmt.Errorf("reading the watch stream: %w", err)
	}
	return c, stream, nil
}

// streamInfo reads the watch stream's state, and notes the server's clock
// by the time it stamped on it.
func (w *watcher) streamInfo(ctx context.Context) (*jetstream.StreamInfo, error) {
	sent := w.clock.Now()
	info, err := w.stream.Info(ctx)
	if err == nil && !info.TimeStamp.IsZero() {
		w.server.note(sent, w.clock.Now(), info.TimeStamp)
	}
	return info, err
}

// watchFetchBatch is the most due watches one pull asks for (pullHeld).
const watchFetchBatch = 256

// run hands due watches of every provider to chk on their own goroutines
// until ctx ends, then waits for those in hand, which the keep-alives
// cover until then: a provider call may run its course (CheckTimeout,
// as long as the ack wait) after ctx ends.
func (w *watcher) run(ctx context.Context, chk *checker) error {
	w.hand = make(map[jetstream.Msg]time.Time)
	w.workers = newWorkers(workerIdle, func(msg jetstream.Msg) { w.carry(ctx, chk, msg) })
	aliveCtx, stopAlive := context.WithCancel(context.WithoutCancel(ctx))
	alive := make(chan struct{})
	go func() { defer close(alive); w.keepAlives(aliveCtx) }()
	var pulls sync.WaitGroup
	for name, cons := range w.consumers {
		pulls.Go(func() { w.pull(ctx, name, cons) })
	}
	pulls.Wait()
	w.workers.stop() // a worker ends only with nothing in hand
	stopAlive()
	<-alive
	return nil
}

// pull asks for the due watches of one provider until ctx ends
// (pullHeld).
func (w *watcher) pull(ctx context.Context, provider string, cons jetstream.Consumer) {
	pullHeld(ctx, w.clock, w.log.With("provider", provider), cons, w.held, watchGiveBack,
		w.metrics.watchesGivenBack.WithLabelValues(provider), w.workers.run)
}

// watchGiveBack is how long a fetched due watch may wait for room before
// it goes back to the stream: well within the ack wait.
const watchGiveBack = watchAckWait / 2

// pullHeld hands each message of cons, batch after batch, to hand once h
// lets this instance hold one more. A message fetched is not in hand: no
// keep-alive tells JetStream it is being worked on, and one still waiting
// for room when its ack wait ends is delivered again, to another
// instance, while this one still has it. So a message that waits longer
// than giveBack since its fetch goes back to the stream for a second
// instead, counted in givenBack (giveBack must outlast a fetch's wait,
// fetchWait, or messages given back come again within the same fetch,
// already late). One that
// waited a third of giveBack is told in progress as it is handed: the
// keep-alives count from the hand, and come first up to two thirds of the
// ack wait later. (Asking for no more than the room, rather, cost 15%
// more CPU a re-check at 100,000 watches: more, smaller pulls.) One
// fetched while stopping goes back at once. It runs on the pull's
// goroutine only, so every hand has returned before pullHeld does.
func pullHeld(ctx context.Context, clock Clock, log *slog.Logger, cons jetstream.Consumer, h *heldWatches,
	giveBack time.Duration, givenBack prometheus.Counter, hand func(jetstream.Msg)) {
	warn := newSummary(log, summaryInterval, "due watches given back to the stream: no room to hold them")
	defer warn.stop()
	fetchEach(ctx, clock, log, "watch consumer", cons, watchFetchBatch, func(msg jetstream.Msg, fetched time.Time) {
		switch {
		case h.takeBy(ctx, fetched.Add(giveBack)):
			if time.Since(fetched) >= giveBack/3 {
				msg.InProgress()
			}
			hand(msg)
		case ctx.Err() != nil:
			msg.Nak() // stopping: another instance takes it now
		default:
			warn.note(ctx, "held", h.held())
			givenBack.Inc()
			msg.NakWithDelay(time.Second)
		}
	})
}

// carry handles one delivery held by this instance, in hand for the
// keep-alives meanwhile.
func (w *watcher) carry(ctx context.Context, chk *checker, msg jetstream.Msg) {
	defer w.held.letGo()
	w.handMu.Lock()
	w.hand[msg] = w.clock.Now()
	w.handMu.Unlock()
	defer func() {
		w.handMu.Lock()
		delete(w.hand, msg)
		w.handMu.Unlock()
	}()
	w.handle(ctx, chk, msg)
}

// keepAlives tells JetStream, every third of the ack wait, that the
// deliveries in hand for that long are still being worked on (waiting
// for budget, or for their provider), so that none is handed to another
// instance meanwhile.
func (w *watcher) keepAlives(ctx context.Context) {
	for sleep(ctx, w.clock, watchAckWait/3) {
		now := w.clock.Now()
		var long []jetstream.Msg
		w.handMu.Lock()
		for msg, since := range w.hand {
			if now.Sub(since) >= watchAckWait/3 {
				long = append(long, msg)
			}
		}
		w.handMu.Unlock()
		for _, msg := range long {
			msg.InProgress()
		}
	}
}

// handle carries out one delivery of a due watch or of a trigger.
func (w *watcher) handle(ctx context.Context, chk *checker, msg jetstream.Msg) {
	now := w.clock.Now()
	order, err := w.decodeWatchOrder(msg.Subject(), msg.Data(), now)
	if err == nil {
		err = order.readSchedule(msg.Headers(), w.server.localTime)
	}
	if err != nil {
		// Never retried: it would fail the same way every time.
		w.log.Warn("invalid watch order dropped", "subject", providers.Truncate(msg.Subject(), 120), "error", err)
		w.metrics.watchesEnded.WithLabelValues("invalid").Inc()
		w.dropRepeating(ctx, msg)
		msg.Term()
		return
	}
	if order.Trigger == "" && order.Due.IsZero() {
		delivery, _ := deliveryOf(msg)
		// An order of an earlier version, which waited out each step
		// as a nak: it goes on as a schedule.
		order.Rechecks = max(delivery-2, 0)
		if delivery == 1 && now.Sub(order.Since) < w.schedule[0] {
			// The check that began it has just run.
			order.Due = w.firstDue(order)
			w.reschedule(ctx, msg, order, now)
			return
		}
	}
	switch {
	case order.Trigger == "" && (!now.Before(order.Deadline) || order.Due.Equal(order.Deadline)):
		// Past the deadline, or its schedule fired at the deadline, which
		// this instance's clock may not have reached.
		w.expire(ctx, msg, order, expiredAtDeadline)
		return
	case !now.Before(order.Deadline):
		// A trigger whose checks kept failing until the deadline.
		delivery, _ := deliveryOf(msg)
		w.log.Warn("trigger dropped: no successful check before its deadline", "trigger", order.Trigger,
			"provider", order.Provider, "account", order.Account, "payment_id", order.PaymentID, "attempts", delivery)
		w.metrics.watchesEnded.WithLabelValues("expired").Inc()
		w.ack(ctx, msg)
		return
	case order.Trigger == "" && !order.Due.IsZero():
		// How late the check comes against the step it waited for.
		w.metrics.watchLag.Observe(max(0, now.Sub(order.Due)).Seconds())
	case order.Trigger == triggerWebhook:
		if wait, err := w.webhookQuiet(ctx, order, now); err != nil || wait > 0 {
			msg.NakWithDelay(max(wait, time.Second))
			return
		}
	}

	rep, err := w.check(ctx, chk, order)
	key := order.payment().Key()
	now = w.clock.Now()
	if order.Trigger == triggerWebhook {
		w.webhookChecks.note(key, now)
	}
	switch code := paybridge.ErrorCode(err); {
	case ctx.Err() != nil:
		msg.Nak() // shutting down: another instance takes it now
	case permanent(code) && order.Trigger == "":
		w.expire(ctx, msg, order, string(code))
	case permanent(code):
		w.log.Warn("trigger dropped: the provider refused it", "trigger", order.Trigger,
			"provider", order.Provider, "account", order.Account, "payment_id", order.PaymentID, "code", code)
		w.metrics.watchesEnded.WithLabelValues(string(code)).Inc()
		w.ack(ctx, msg)
	case err != nil && order.Trigger != "":
		w.log.Info("triggered payment not checked; will retry", "provider", order.Provider, "account", order.Account,
			"payment_id", order.PaymentID, "code", code, "error", err)
		delivery, _ := deliveryOf(msg)
		msg.NakWithDelay(w.nextDelay(order, delivery, now))
	case err != nil:
		w.log.Info("watched payment not checked; will retry", "provider", order.Provider, "account", order.Account,
			"payment_id", order.PaymentID, "code", code, "error", err)
		w.carryOn(ctx, msg, order, now)
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
		if w.end(ctx, msg, order) {
			w.metrics.watchesEnded.WithLabelValues("settled").Inc()
		}
	default:
		// A watch begun while the payment had no record (a failed or
		// unknown first check) is written into the record now.
		if err := w.claims.markWatched(ctx, key, order.Deadline); err != nil {
			w.log.Warn("watch not noted in the status record", "key", key, "error", err)
		}
		w.carryOn(ctx, msg, order, now)
	}
}

// carryOn lets a watch go on after a check made at now. A due check of a
// repeating schedule is only acknowledged: its schedule fires again a step
// later. When that comes at or after the deadline, the schedule is
// replaced by one at the deadline, for the watch to end there. Any other
// watch stores its next schedule (reschedule).
func (w *watcher) carryOn(ctx context.Context, msg jetstream.Msg, order watchOrder, now time.Time) {
	if !order.repeating() {
		w.reschedule(ctx, msg, order.next(w.schedule, w.minRepeat(), now), now)
		return
	}
	if order.Every < w.minRepeat() {
		// Repeating since an earlier version or configuration, on a step
		// too short to hold a whole check: one at a time from now on.
		if w.unscheduled(ctx, msg, order) {
			w.reschedule(ctx, msg, order.next(w.schedule, w.minRepeat(), now), now)
		}
		return
	}
	if order.Next.Before(order.Deadline) {
		if delivery, _ := deliveryOf(msg); delivery == 1 && now.Before(order.Next) {
			msg.Ack()
			return
		}
		// Delivered again, or held past its next firing: its schedule
		// may be gone (an instance that ended the watch died before the
		// ack). Storing it again is refused while it stands.
		w.reschedule(ctx, msg, order.next(w.schedule, w.minRepeat(), now), now)
		return
	}
	// Until the one at the deadline is stored, the due message stays in
	// hand: if this instance dies in between, it is delivered again.
	if !w.unscheduled(ctx, msg, order) {
		return
	}
	last := order
	last.Rechecks++
	last.Due, last.Every, last.Next = order.Deadline, 0, time.Time{}
	w.reschedule(ctx, msg, last, now)
}

// end ends a watch, as ack does, once a repeating schedule of it is
// removed; it reports whether it did.
func (w *watcher) end(ctx context.Context, msg jetstream.Msg, order watchOrder) bool {
	if !w.unscheduled(ctx, msg, order) {
		return false
	}
	w.ack(ctx, msg)
	return true
}

// unscheduled removes the watch's schedule, if one stands, and reports
// whether it is gone; when it is not, msg is delivered again a first step
// later, to try again. A repeating schedule stands while it fires; a
// one-shot due message delivered again can find one too: its next, stored
// by an instance that died before its ack. On its first delivery it
// cannot, and costs no lookup.
func (w *watcher) unscheduled(ctx context.Context, msg jetstream.Msg, order watchOrder) bool {
	if order.Trigger != "" {
		return true
	}
	if order.Every == 0 {
		if delivery, _ := deliveryOf(msg); delivery == 1 {
			return true
		}
	}
	if w.unschedule(ctx, order) == nil {
		return true
	}
	msg.NakWithDelay(w.schedule[0])
	return false
}

// dropRepeating removes the repeating schedule that fired an invalid order
// (one stored under a longer --watch-deadline, say), which would fire it
// again every step. Only the server writes a next firing time other than
// "purge" (clients may not), so the schedule it names is the one that
// fired.
func (w *watcher) dropRepeating(ctx context.Context, msg jetstream.Msg) {
	h := msg.Headers()
	scheduler, next := h.Get(jetstream.SchedulerHeader), h.Get(jetstream.ScheduleNextHeader)
	if next == "" || next == scheduleNextPurge || !strings.HasPrefix(scheduler, w.subject+"."+scheduledToken+".") {
		return
	}
	if err := w.stream.Purge(ctx, jetstream.WithPurgeSubject(scheduler)); err != nil {
		w.log.Warn("repeating schedule of an invalid order not removed", "subject", providers.Truncate(scheduler, 120), "error", err)
	}
}

// unschedule removes the watch's repeating schedule, if it is still the
// one its subject holds: a watch begun there since (after an instance
// ended this one and died before its ack) stays.
func (w *watcher) unschedule(ctx context.Context, order watchOrder) error {
	subject := w.scheduledSubjectOf(order.payment())
	held, err := w.stream.GetLastMsgForSubject(ctx, subject)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return nil
	case err == nil:
		var stored watchOrder
		if json.Unmarshal(held.Data, &stored) != nil || !stored.Since.Equal(order.Since) || !stored.Deadline.Equal(order.Deadline) {
			return nil // another watch's
		}
		// Up to its sequence: a schedule stored after the read stays.
		err = w.stream.Purge(ctx, jetstream.WithPurgeSubject(subject), jetstream.WithPurgeSequence(held.Sequence+1))
	}
	if err != nil {
		w.log.Warn("watch's repeating schedule not removed; will retry", "subject", subject, "error", err)
	}
	return err
}

// reschedule stores the watch's next order, a schedule due at next.Due,
// and then lets go of the due one. When the payment's schedule subject
// already holds one (a watch begun meanwhile: it is the one in force),
// the due one ends. When NATS takes no schedule, the due order stays and
// is delivered again once its next step is over, as a nak with delay.
func (w *watcher) reschedule(ctx context.Context, msg jetstream.Msg, next watchOrder, now time.Time) {
	err := w.publish(ctx, w.scheduledSubjectOf(next.payment()), &next)
	switch {
	case err == nil || subjectHeld(err):
		// Without waiting for the server: a due order acknowledged but
		// not removed is delivered again after the ack wait, checked once
		// more, and then finds its schedule held.
		msg.Ack()
	default:
		w.log.Warn("watch's next check not scheduled; its due order stays", "provider", next.Provider,
			"account", next.Account, "payment_id", next.PaymentID, "error", err)
		msg.NakWithDelay(max(next.Due.Sub(now), 0))
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

// webhookQuiet is how long a webhook trigger must wait before its check:
// the quiet period from the payment's last check, by its record or, for
// one the record does not show (no record: the provider does not know the
// payment; unknown words), by this instance's own webhook checks.
func (w *watcher) webhookQuiet(ctx context.Context, order watchOrder, now time.Time) (time.Duration, error) {
	key := order.payment().Key()
	last := w.webhookChecks.last(key)
	e, found, err := w.claims.read(ctx, key, false)
	if err != nil {
		return 0, err
	}
	quiet := webhookQuietUnsettled
	if found {
		if e.status.Status().Terminal() {
			quiet = webhookQuietSettled
		}
		if checked := e.checkedAt(); checked.After(last) {
			last = checked
		}
	}
	if last.IsZero() {
		return 0, nil
	}
	return last.Add(quiet).Sub(now), nil
}

// webhookChecks remembers when this instance last checked a payment for a
// webhook, by payment key, for the quiet period: a check whose answer
// leaves no trace in the record would otherwise let every replay cost
// calls. Bounded: past maxWebhookChecks entries, those older than the
// longest quiet period go, and if none is, all do.
type webhookChecks struct {
	mu sync.Mutex
	at map[string]time.Time
}

const maxWebhookChecks = 1 << 14

func (c *webhookChecks) note(key string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at == nil {
		c.at = make(map[string]time.Time)
	}
	if len(c.at) >= maxWebhookChecks {
		maps.DeleteFunc(c.at, func(_ string, t time.Time) bool { return at.Sub(t) > webhookQuietSettled })
		if len(c.at) >= maxWebhookChecks {
			clear(c.at)
		}
	}
	c.at[key] = at
}

func (c *webhookChecks) last(key string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at[key]
}

// check asks about a watched payment. A permanent answer (no such payment,
// credentials refused) is asked again, up to maxRefusals times a first
// schedule step apart, before it counts: the caller then ends the watch.
// Waiting for budget never outlives the order: a watch checked after its
// deadline would be expired late, on a spent call. Nor does a check of a
// repeating schedule outlive its next firing, which replaces its due
// message and is delivered anew, to any instance: one check of a watch at
// a time.
func (w *watcher) check(ctx context.Context, chk *checker, order watchOrder) (rep paybridge.Reply, err error) {
	end := order.Deadline
	switch {
	case order.repeating() && order.Every >= w.minRepeat():
		// A provider call, once begun, runs its course (another check
		// may share it): the last may begin a call's length before the
		// next firing.
		end = minTime(end, order.Next.Add(-w.callTimeout))
	case order.repeating():
		// A step too short for that, repeating since an earlier version
		// or configuration: carryOn takes it back to one at a time.
		end = minTime(end, order.Next)
	}
	ctx, cancel := context.WithDeadline(ctx, end)
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
			// Fewer than maxRefusals in a row: not yet a reason to end
			// the watch, which goes on.
			return rep, paybridge.Errorf(paybridge.CodeProviderTimeout,
				"%d of %d permanent answers before the check's time ran out", refusals, maxRefusals)
		}
	}
}

// permanent reports whether an answer with this code will not change by
// asking again on schedule.
func permanent(code paybridge.Code) bool {
	return code == paybridge.CodePaymentNotFound || code == paybridge.CodeProviderAuthFailed || code == paybridge.CodeUnknownAccount
}

// deliveryOf is how many times msg was delivered and its stream sequence,
// from its metadata, which only the paths that need them read: 1 and 0
// for a message without.
func deliveryOf(msg jetstream.Msg) (delivery int, seq uint64) {
	meta, err := msg.Metadata()
	if err != nil {
		return 1, 0
	}
	return int(meta.NumDelivered), meta.Sequence.Stream
}

// firstDue is when a watch's first re-check is due: the schedule's first
// step after its start, or its deadline if that comes first.
func (w *watcher) firstDue(order watchOrder) time.Time {
	return minTime(order.Since.Add(w.schedule[0]), order.Deadline)
}

// nextDelay is how long a trigger whose check failed waits after the
// given delivery: the schedule's step for it (the last step repeating),
// cut short by the deadline.
func (w *watcher) nextDelay(order watchOrder, delivery int, now time.Time) time.Duration {
	d := w.schedule[min(delivery-1, len(w.schedule)-1)]
	if left := order.Deadline.Sub(now); left < d {
		d = max(left, 0)
	}
	return d
}

// Why a watch ended before its payment settled, as its watch-expired event
// says: the deadline passed, or the provider's permanent answer (an error
// code).
const expiredAtDeadline = "deadline"

// expire publishes the watch-expired event with the last known status and
// why the watch ended, and ends the watch.
func (w *watcher) expire(ctx context.Context, msg jetstream.Msg, order watchOrder, reason string) {
	// A repeating schedule goes first: it would fire again, and expire
	// the watch a second time.
	if !w.unscheduled(ctx, msg, order) {
		return
	}
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
	if reason != expiredAtDeadline && found {
		// Out of the record before the event says the watch ended, so
		// that no reply after it says watching.
		if err := w.claims.unmarkWatched(ctx, pay.Key(), order.Deadline); err != nil {
			w.log.Warn("ended watch not taken out of the status record; will retry", "key", pay.Key(), "error", err)
			msg.NakWithDelay(w.schedule[0])
			return
		}
	}
	id := pay.watchExpiredID(order.Deadline)
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

// refreshGauge keeps the active-watches gauge current.
func (w *watcher) refreshGauge(ctx context.Context) {
	for {
		if info, err := w.streamInfo(ctx); err == nil {
			w.metrics.watchesActive.Set(float64(info.State.Msgs))
		}
		if !sleep(ctx, w.clock, 5*time.Second) {
			return
		}
	}
}

// subjectHeld reports whether err is the watch stream refusing an order
// on a subject that holds one.
func subjectHeld(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// minTime is the earlier of a and b.
func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
