package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/paybridge/paybridge/internal/testkit"
)

// Due watches fetched and waiting for room are given back before their
// ack wait ends, so none is delivered again while this instance still has
// it, and each is handed once. Sixteen due watches, fetched at once, room
// for two, each held 400 ms, an ack wait of two seconds: kept waiting,
// the last would wait 2.8 s. Each give-back is counted: the deliveries
// beyond the first add up to the count.
func TestPulledWatchesWaitingForRoomAreGivenBackInTime(t *testing.T) {
	cons := dueConsumer(t, 2*time.Second, 16)
	h := newHeldWatches()
	frozen := time.Now()
	h.now = func() time.Time { return frozen } // the bound stays at two
	h.limit = 2

	var (
		mu          sync.Mutex
		handed      = map[uint64]int{} // stream sequence: times handed
		redelivered int                // deliveries beyond the first, as handed
		maxHeld     int
		held, acked atomic.Int64
		givenBack   = prometheus.NewCounter(prometheus.CounterOpts{Name: "given_back"})
	)
	hand := func(msg jetstream.Msg) {
		meta, err := msg.Metadata()
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		handed[meta.Sequence.Stream]++
		redelivered += int(meta.NumDelivered) - 1
		maxHeld = max(maxHeld, int(held.Add(1)))
		mu.Unlock()
		time.AfterFunc(400*time.Millisecond, func() { // a provider call of 400 ms
			held.Add(-1)
			if msg.DoubleAck(context.Background()) == nil {
				acked.Add(1)
			}
			h.letGo()
		})
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		pullHeld(ctx, wallClock{}, slog.New(slog.DiscardHandler), cons, h, 500*time.Millisecond, givenBack, hand)
	}()
	defer func() { cancel(); <-done }()

	testkit.WaitFor(t, 20*time.Second, "16 due watches handled", func() bool { return acked.Load() == 16 })
	mu.Lock()
	defer mu.Unlock()
	for seq, n := range handed {
		if n != 1 {
			t.Errorf("due watch %d handed %d times", seq, n)
		}
	}
	if len(handed) != 16 || maxHeld > 2 {
		t.Errorf("%d due watches handed, at most %d held at once; want 16, at most 2", len(handed), maxHeld)
	}
	if n := int(testutil.ToFloat64(givenBack)); n == 0 || n != redelivered {
		t.Errorf("%d give-backs counted, %d deliveries beyond the first; want as many, and some", n, redelivered)
	}
	info, err := cons.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 || info.NumPending != 0 {
		t.Errorf("consumer: %d waiting for an ack, %d not delivered; want none", info.NumAckPending, info.NumPending)
	}
}

// A due watch handed after a long wait for room is told in progress as it
// is handed, so that its ack wait starts again there: the keep-alives count
// from the hand. Two due watches, room for one, each held 1.2 s, an ack
// wait of 2 s: the second, handed 1.2 s after its delivery, would be
// delivered again at 2 s, before its ack at 2.4 s (and given back, for
// want of room, which the pull logs).
func TestPulledWatchesHandedLateAreToldInProgress(t *testing.T) {
	cons := dueConsumer(t, 2*time.Second, 2)
	h := newHeldWatches()
	frozen := time.Now()
	h.now = func() time.Time { return frozen }
	h.limit = 1
	var acked atomic.Int64
	hand := func(msg jetstream.Msg) {
		time.AfterFunc(1200*time.Millisecond, func() {
			if msg.DoubleAck(context.Background()) == nil {
				acked.Add(1)
			}
			h.letGo()
		})
	}
	var logged testkit.SyncBuffer
	givenBack := prometheus.NewCounter(prometheus.CounterOpts{Name: "given_back"})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		pullHeld(ctx, wallClock{}, slog.New(slog.NewTextHandler(&logged, nil)), cons, h, 1500*time.Millisecond, givenBack, hand)
	}()
	testkit.WaitFor(t, 20*time.Second, "2 due watches handled", func() bool { return acked.Load() == 2 })
	cancel()
	<-done
	if strings.Contains(logged.String(), "given back") || testutil.ToFloat64(givenBack) != 0 {
		t.Errorf("a due watch was given back (%v counted): %s", testutil.ToFloat64(givenBack), logged.String())
	}
}

// A take given a time to give up by waits for room until then, and no
// longer; with room it takes at once, even past that time.
func TestHeldWatchesTakeByGivesUpInTime(t *testing.T) {
	h := newHeldWatches()
	frozen := time.Now()
	h.now = func() time.Time { return frozen }
	h.limit = 1
	if !h.takeBy(t.Context(), time.Now().Add(-time.Second)) {
		t.Fatal("a take with room was refused because its time had passed")
	}
	start := time.Now()
	if h.takeBy(t.Context(), start.Add(200*time.Millisecond)) {
		t.Fatal("a take got room at a bound of one")
	}
	if waited := time.Since(start); waited < 200*time.Millisecond || waited > 5*time.Second {
		t.Fatalf("the take gave up after %v, want 200 ms", waited)
	}
	if n := h.held(); n != 1 {
		t.Fatalf("%d held, want 1", n)
	}
}

// dueConsumer is a work-queue stream holding n messages and a pull
// consumer of it with the given ack wait, on a NATS server of the test's.
func dueConsumer(t *testing.T, ackWait time.Duration, n int) jetstream.Consumer {
	t.Helper()
	js := testJetStream(t)
	ctx := t.Context()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "DUE", Subjects: []string{"due.>"}, Retention: jetstream.WorkQueuePolicy})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "due", AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := js.Publish(ctx, fmt.Sprintf("due.%d", i), []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	return cons
}
