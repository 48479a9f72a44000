package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge"
)

// The durable intake (docs/contract.md, "Queued checks"): a check that
// must not be lost is published on the queued-check subject with a
// PubAck, kept by a work-queue stream, and taken by every instance from
// one shared consumer at the pace its slots free up. Fire-and-forget over
// core NATS is at most once: a burst past the queue is dropped, and a check
// published while no bridge runs is lost; a queued one waits in the stream
// instead, and a full stream refuses the publish, which its publisher sees.
const (
	// queuedConsumer is the consumer every instance shares.
	queuedConsumer = "paybridge-checks"
	// queuedAckWait outlasts a check: a provider call (30 s) after a wait
	// for budget (2 s).
	queuedAckWait = 2 * time.Minute
	// queuedWaitForSlot is how long a queued check waits for a slot of its
	// provider before it goes back to the stream for a while. Checks are
	// taken one after another, so each queued check of a provider that
	// hangs holds up the others' by at most this long.
	queuedWaitForSlot = time.Second
	// queuedMaxDeliveries bounds the attempts of a check whose provider
	// keeps failing (deliveries less the times it went back for want of a
	// slot); the last failure ends it, logged.
	queuedMaxDeliveries = 10
	// The stream's own limits: a queued check is a few hundred bytes.
	queuedStreamMaxMsgs = 1_000_000
)

// ensureCheckStream opens the queued-check stream and its shared consumer,
// creating them when missing.
func ensureCheckStream(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.Consumer, error) {
	s, err := ensureStream(ctx, js, jetstream.StreamConfig{
		Name:        cfg.CheckStream,
		Description: "paybridge: checks that must not be lost, taken by every instance at its pace",
		Subjects:    []string{cfg.QueuedCheckSubject},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		Discard:     jetstream.DiscardNew, // a full stream refuses the publish
		MaxMsgs:     queuedStreamMaxMsgs,
		MaxMsgSize:  MaxRequestBytes,
		Duplicates:  2 * time.Minute, // a publisher may retry with its Nats-Msg-Id
		MaxAge:      7 * 24 * time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("opening stream %s: %w", cfg.CheckStream, err)
	}
	c, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       queuedConsumer,
		Description:   "shared by every paybridge instance",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       queuedAckWait,
		MaxDeliver:    -1,
		MaxAckPending: -1,
	})
	if err != nil {
		return nil, fmt.Errorf("opening consumer %s of %s: %w", queuedConsumer, cfg.CheckStream, err)
	}
	return c, nil
}

// intake takes queued checks from the stream and runs them in the
// service's check slots, one at a time as slots free up, and settles each
// message by how its check ended.
type intake struct {
	consumer jetstream.Consumer
	service  *service
	log      *slog.Logger
	given    *summary // checks given up after their last attempt
	waits    slotWaits
}

// slotWaits counts, by stream sequence, the times this instance put a
// queued check back for want of a slot: they are deliveries, but not
// attempts, and must not bring a check nearer its give-up. Bounded: past
// maxSlotWaits entries it starts afresh (a check then counts a few waits
// as attempts, never the other way round). Another instance's waits are
// not known here: with several instances, a check may be given up after
// fewer failed attempts than queuedMaxDeliveries, never before one.
type slotWaits struct {
	mu    sync.Mutex
	bySeq map[uint64]int
}

const maxSlotWaits = 1 << 16

func (w *slotWaits) add(seq uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.bySeq == nil || len(w.bySeq) >= maxSlotWaits {
		w.bySeq = map[uint64]int{}
	}
	w.bySeq[seq]++
}

// count returns the waits counted for seq. They stay counted for the
// check's next attempts, until forget.
func (w *slotWaits) count(seq uint64) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bySeq[seq]
}

// forget drops the waits of msg's check, which is done. It reads msg's
// metadata only while this instance has counted waits of any check: none
// but after a slot wait, and then until they are forgotten (a check whose
// later deliveries went to another instance is forgotten only when the
// count starts afresh, past maxSlotWaits).
func (w *slotWaits) forget(msg jetstream.Msg) {
	w.mu.Lock()
	empty := len(w.bySeq) == 0
	w.mu.Unlock()
	if empty {
		return
	}
	if _, seq := deliveryOf(msg); seq != 0 {
		w.mu.Lock()
		delete(w.bySeq, seq)
		w.mu.Unlock()
	}
}

// queuedFetchBatch is the most queued checks one pull asks for
// (fetchEach); each waits in hand for a slot, so fewer than the slots.
const queuedFetchBatch = 32

// run takes queued checks until ctx ends; then it takes no more and
// leaves those taken to the service's drain. Those fetched but not yet
// taken go back to the stream at once.
func (in *intake) run(ctx context.Context) {
	fetchEach(ctx, in.service.clock, in.log, "queued checks", in.consumer, queuedFetchBatch, func(msg jetstream.Msg, _ time.Time) {
		if ctx.Err() != nil {
			msg.Nak()
			return
		}
		in.take(ctx, msg)
	})
}

// take runs one queued check in a slot of its provider, waiting a little
// for one; past that the check goes back to the stream for a second.
func (in *intake) take(ctx context.Context, msg jetstream.Msg) {
	s := in.service
	received := s.clock.Now()
	s.enter()
	defer s.leave()
	j := &job{endpoint: queuedEndpoint}
	var err error
	if j.req, err = DecodeCheckRequest(msg.Headers(), msg.Data()); err != nil {
		in.refuse(ctx, msg, j, err) // it would fail the same way every time
		return
	}
	j.req.received = received
	l := s.lanes[j.req.Provider]
	if l == nil {
		in.refuse(ctx, msg, j, unknownProvider(j.req.Provider))
		return
	}
	// The check runs to its end even when the intake stops meanwhile: the
	// service's drain waits for it.
	jobCtx := context.WithoutCancel(ctx)
	run := func(held slot) {
		defer s.leave()
		rep, err := s.serveIn(jobCtx, s.checks, held, j)
		s.metrics.countRequest(queuedEndpoint, j.req.Provider, outcome(rep, err))
		in.settle(jobCtx, msg, j, err)
	}
	s.enter()
	if !s.checks.await(ctx, l, run, queuedWaitForSlot) {
		s.leave()
		if _, seq := deliveryOf(msg); seq != 0 {
			in.waits.add(seq)
		}
		msg.NakWithDelay(time.Second)
	}
}

// refuse ends a queued check that can never run, counted.
func (in *intake) refuse(ctx context.Context, msg jetstream.Msg, j *job, err error) {
	provider := j.req.Provider
	if in.service.lanes[provider] == nil {
		provider = ""
	}
	in.service.metrics.countRequest(queuedEndpoint, provider, string(paybridge.ErrorCode(err)))
	in.log.WarnContext(ctx, "queued check refused", "code", paybridge.ErrorCode(err), "message", paybridge.ErrorMessage(err))
	msg.Term()
}

// settle acknowledges a queued check that ran, ends one whose answer will
// not change by asking again, and puts any other back in the stream for
// later, the wait growing with each attempt, until the last.
func (in *intake) settle(ctx context.Context, msg jetstream.Msg, j *job, err error) {
	code := paybridge.ErrorCode(err)
	switch {
	case err == nil:
		in.waits.forget(msg)
		msg.Ack()
		return
	case permanent(code) || code == paybridge.CodeUnknownProvider || code == paybridge.CodeProviderBadResponse:
		in.waits.forget(msg)
		msg.Term()
		return
	}
	delivery, seq := deliveryOf(msg)
	attempts := max(1, delivery-in.waits.count(seq))
	if attempts >= queuedMaxDeliveries {
		in.waits.forget(msg)
		in.given.note(ctx, "provider", j.req.Provider, "account", j.req.Account, "payment_id", j.req.PaymentID,
			"code", code, "attempts", attempts)
		msg.Term()
		return
	}
	msg.NakWithDelay(min(time.Second<<attempts, time.Minute))
}
