package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/client"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers/fake"
)

// Services reading PAYMENT_EVENTS with durable consumers of their own,
// under the users of deploy/nats: the helpers of natsperms_test.go (one
// account) and natsaccounts_test.go (an account each).

// connect connects to url, failing the test on error, and closes the
// connection at cleanup.
func connect(t *testing.T, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	must(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// newJetStream is a JetStream context on nc.
func newJetStream(t *testing.T, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	must(t, err)
	return js
}

// handledEvents collects what a subscriber's handler saw.
type handledEvents struct {
	mu     sync.Mutex
	events []events.Event
	errs   []error
}

func (h *handledEvents) handle(_ context.Context, ev events.Event) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
	return nil
}

func (h *handledEvents) report(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.errs = append(h.errs, err)
}

// statuses are the payment ids and statuses handled so far, "id:status".
func (h *handledEvents) statuses() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var s []string
	for _, ev := range h.events {
		s = append(s, ev.Data.PaymentID+":"+string(ev.Data.Status))
	}
	return s
}

func (h *handledEvents) reported() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.errs...)
}

// subscribe runs client.Subscribe on nc with durable, stopped at cleanup.
func subscribe(t *testing.T, nc *nats.Conn, durable string) *handledEvents {
	t.Helper()
	c, err := client.New(nc)
	must(t, err)
	h := &handledEvents{}
	sub, err := c.Subscribe(t.Context(), durable, h.handle, client.OnError(h.report))
	if err != nil {
		t.Fatalf("subscribing durable %s: %v", durable, err)
	}
	t.Cleanup(sub.Stop)
	return h
}

// checkAs sends a check on nc and returns the status it answered.
func checkAs(t *testing.T, nc *nats.Conn, id string) paybridge.Status {
	t.Helper()
	c, err := client.New(nc)
	must(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	rep, err := c.Check(ctx, "coinbar", id)
	if err != nil {
		t.Fatalf("check of %s: %v", id, err)
	}
	return rep.Status
}

// checkDurablesPerService: billing reads payment dur-1's events with its
// durable "billing" (fetching itself), shipping with "shipping" (through
// client.Subscribe); each is refused the other's.
func checkDurablesPerService(t *testing.T, f *fakes, billing, shipping *nats.Conn) {
	t.Helper()
	billingJS := newJetStream(t, billing)
	if _, err := billingJS.CreateOrUpdateConsumer(t.Context(), client.DefaultEventStream, jetstream.ConsumerConfig{
		Durable: "billing", AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: -1, FilterSubject: client.DefaultStatusChangedSubject,
	}); err != nil {
		t.Fatalf("billing creating its durable: %v", err)
	}
	shipped := subscribe(t, shipping, "shipping")
	if got := checkAs(t, shipping, "dur-1"); got != paybridge.StatusPending {
		t.Fatalf("check of dur-1: %s", got)
	}
	testkit.WaitFor(t, 10*time.Second, "shipping's durable to handle the event", func() bool {
		return len(shipped.statuses()) == 1
	})

	checkOwnDurableOnly(t, billingJS, shipping, "billing")

	// Nor can billing touch shipping's.
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	if _, err := billingJS.Consumer(ctx, client.DefaultEventStream, "shipping"); err == nil {
		t.Error("billing read the info of shipping's durable")
	}
	cancel()
	ctx, cancel = context.WithTimeout(t.Context(), time.Second)
	if err := billingJS.DeleteConsumer(ctx, client.DefaultEventStream, "shipping"); err == nil {
		t.Error("billing deleted shipping's durable")
	}
	cancel()
	must(t, f.coinbar.Set("dur-1", fake.Step{Status: "SUCCESS"}))
	if got := checkAs(t, billing, "dur-1"); got != paybridge.StatusPaid {
		t.Fatalf("check of the paid dur-1: %s", got)
	}
	testkit.WaitFor(t, 10*time.Second, "shipping's durable to handle the second event", func() bool {
		return slices.Contains(shipped.statuses(), "dur-1:paid")
	})
	if errs := shipped.reported(); len(errs) > 0 {
		t.Errorf("shipping's subscriber reported %v", errs)
	}
}

// checkOwnDurableOnly: the connection other cannot fetch from, ack,
// terminate, change or delete the durable consumer durable on
// PAYMENT_EVENTS, which owner reads; durable has one event that nobody has
// fetched yet.
func checkOwnDurableOnly(t *testing.T, owner jetstream.JetStream, other *nats.Conn, durable string) {
	t.Helper()
	stream := client.DefaultEventStream
	cons, err := owner.Consumer(t.Context(), stream, durable)
	must(t, err)
	before := cons.CachedInfo()
	if before.NumPending != 1 || before.NumAckPending != 0 {
		t.Fatalf("durable %s: %d pending, %d awaiting an ack; want one not yet delivered", durable, before.NumPending, before.NumAckPending)
	}
	otherJS := newJetStream(t, other)
	attempt := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(t.Context(), time.Second)
	}

	// Fetch: a pull request for the durable's next event.
	ctx, cancel := attempt()
	m, err := other.RequestWithContext(ctx, "$JS.API.CONSUMER.MSG.NEXT."+stream+"."+durable, []byte(`{"batch":1,"expires":1000000000}`))
	cancel()
	if err == nil && strings.HasPrefix(m.Reply, "$JS.ACK.") {
		t.Fatalf("another service fetched an event of %s: %s", durable, m.Data)
	}
	ctx, cancel = attempt()
	if _, err := otherJS.Consumer(ctx, stream, durable); err == nil {
		t.Errorf("another service read the info of %s", durable)
	}
	cancel()

	// The owner gets the event, delivered for the first time: the pull
	// above took nothing.
	first := fetchOne(t, cons, "the owner's first fetch")
	meta, err := first.Metadata()
	must(t, err)
	if meta.NumDelivered != 1 {
		t.Fatalf("the owner's first fetch of %s was delivery %d: someone else was delivered it", durable, meta.NumDelivered)
	}

	// Settle it from the other service: ack and terminate on its ack
	// subject. Once other's flush returns, the server has routed both (or
	// refused them) before the owner's nak below.
	for _, ack := range []string{"+ACK", "+TERM"} {
		must(t, other.Publish(first.Reply(), []byte(ack)))
	}
	must(t, other.Flush())
	must(t, first.Nak())
	again := fetchOne(t, cons, "the owner's fetch after another service's ack and term and its own nak (none: the other's settled the event)")
	meta2, err := again.Metadata()
	must(t, err)
	if meta2.Sequence.Stream != meta.Sequence.Stream || meta2.NumDelivered != 2 {
		t.Fatalf("after another service's ack and the owner's nak, %s delivered stream seq %d (delivery %d), want %d again", durable, meta2.Sequence.Stream, meta2.NumDelivered, meta.Sequence.Stream)
	}
	must(t, again.DoubleAck(t.Context()))

	// Change and delete it.
	ctx, cancel = attempt()
	if _, err := otherJS.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable: durable, AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 1, FilterSubject: client.DefaultStatusChangedSubject,
	}); err == nil {
		t.Errorf("another service changed %s", durable)
	}
	cancel()
	ctx, cancel = attempt()
	if err := otherJS.DeleteConsumer(ctx, stream, durable); err == nil {
		t.Errorf("another service deleted %s", durable)
	}
	cancel()

	after, err := cons.Info(t.Context())
	if err != nil {
		t.Fatalf("the owner's durable %s after the attempts: %v", durable, err)
	}
	if !after.Created.Equal(before.Created) || after.Config.MaxDeliver != before.Config.MaxDeliver {
		t.Errorf("durable %s was replaced or changed: created %s, max deliver %d; was %s, %d", durable, after.Created, after.Config.MaxDeliver, before.Created, before.Config.MaxDeliver)
	}
	if after.AckFloor.Stream != meta.Sequence.Stream || after.NumAckPending != 0 || after.NumPending != 0 {
		t.Errorf("durable %s: ack floor %d, %d awaiting an ack, %d pending; want its event acked by its owner", durable, after.AckFloor.Stream, after.NumAckPending, after.NumPending)
	}
}

// fetchOne fetches one message of cons, failing the test with what if none
// comes.
func fetchOne(t *testing.T, cons jetstream.Consumer, what string) jetstream.Msg {
	t.Helper()
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
	must(t, err)
	for m := range batch.Messages() {
		return m
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
		t.Fatalf("%s from %s: %v", what, cons.CachedInfo().Name, err)
	}
	t.Fatalf("%s from %s: no message", what, cons.CachedInfo().Name)
	return nil
}
