package client_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/client"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/internal/testkit"
)

// deliveries records what a handler was given, for the test to read.
type deliveries struct {
	mu    sync.Mutex
	ids   []string // each delivery's event id, in order
	times []time.Time
	types []string
}

func (d *deliveries) add(ev events.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ids = append(d.ids, ev.ID)
	d.times = append(d.times, time.Now())
	d.types = append(d.types, ev.Type)
}

func (d *deliveries) count(id string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, seen := range d.ids {
		if seen == id {
			n++
		}
	}
	return n
}

func (d *deliveries) all() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.ids)
}

// checkNew checks payments the bridge has never seen: each is one
// status-changed event, whose ids are returned in order.
func (w *world) checkNew(t *testing.T, c *client.Client, ids ...string) []string {
	t.Helper()
	w.addPending(t, ids...)
	var eventIDs []string
	for _, id := range ids {
		rep, err := c.Check(within(t, 10*time.Second), "coinbar", id)
		must(t, err)
		if !rep.Changed || rep.EventID == "" {
			t.Fatalf("check of %s published nothing: %+v", id, rep)
		}
		eventIDs = append(eventIDs, rep.EventID)
	}
	return eventIDs
}

// settled waits until the durable consumer has nothing left to deliver or
// to be acknowledged, and its ack floor has reached the stream sequence seq:
// every event up to seq was acknowledged or terminated, none will come again.
func (w *world) settled(t *testing.T, durable string, seq uint64) *jetstream.ConsumerInfo {
	t.Helper()
	js, err := jetstream.New(w.nc)
	must(t, err)
	var info *jetstream.ConsumerInfo
	testkit.WaitFor(t, 10*time.Second, fmt.Sprintf("consumer %s to settle up to %d", durable, seq), func() bool {
		cons, err := js.Consumer(t.Context(), client.DefaultEventStream, durable)
		must(t, err)
		info = cons.CachedInfo()
		return info.AckFloor.Stream >= seq && info.NumAckPending == 0 && info.NumPending == 0
	})
	return info
}

func subscribe(t *testing.T, c *client.Client, durable string, handler func(context.Context, events.Event) error, opts ...client.SubscribeOption) *client.Subscription {
	t.Helper()
	sub, err := c.Subscribe(within(t, 10*time.Second), durable, handler, opts...)
	must(t, err)
	t.Cleanup(sub.Stop)
	return sub
}

func TestSubscribeAcknowledgesHandledEvents(t *testing.T) {
	w := newBridge(t, bridge.Config{})
	c := newClient(t, w.nc)
	var got deliveries
	subscribe(t, c, "billing", func(ctx context.Context, ev events.Event) error {
		got.add(ev)
		return nil
	})
	want := w.checkNew(t, c, "a-1", "a-2", "a-3")
	testkit.WaitFor(t, 10*time.Second, "three events", func() bool { return len(got.all()) == 3 })
	if !slices.Equal(got.all(), want) {
		t.Errorf("handled %v, want the checks' events %v in order", got.all(), want)
	}
	if info := w.settled(t, "billing", 3); info.NumRedelivered != 0 {
		t.Errorf("consumer after acks: %+v", info)
	}
}

// A handler that fails gets its event again, after the nak's delay, and
// the second answer acknowledges it.
func TestFailedHandlerGetsTheEventAgain(t *testing.T) {
	w := newBridge(t, bridge.Config{})
	c := newClient(t, w.nc)
	const firstDelay = 50 * time.Millisecond
	var got deliveries
	subscribe(t, c, "billing", func(ctx context.Context, ev events.Event) error {
		got.add(ev)
		if got.count(ev.ID) == 1 {
			return errors.New("database unavailable")
		}
		return nil
	}, client.RetryBackoff(firstDelay, time.Second))
	id := w.checkNew(t, c, "retry-1")[0]
	testkit.WaitFor(t, 10*time.Second, "the event twice", func() bool { return got.count(id) == 2 })
	w.settled(t, "billing", 1)
	if n := got.count(id); n != 2 {
		t.Errorf("the event was delivered %d times after its ack", n)
	}
	got.mu.Lock()
	gap := got.times[1].Sub(got.times[0])
	got.mu.Unlock()
	if gap < firstDelay {
		t.Errorf("delivered again after %s, before the nak delay of %s", gap, firstDelay)
	}
}

// Permanent terminates an event: it is settled at once and never comes
// back, while later events are handled as usual.
func TestPermanentErrorTerminatesTheEvent(t *testing.T) {
	w := newBridge(t, bridge.Config{})
	c := newClient(t, w.nc)
	var got deliveries
	first := ""
	subscribe(t, c, "billing", func(ctx context.Context, ev events.Event) error {
		got.add(ev)
		if ev.Data.PaymentID == "poison" {
			return client.Permanent(errors.New("this service cannot apply it"))
		}
		return nil
	}, client.RetryBackoff(time.Millisecond, time.Millisecond)) // a nak would come back at once
	first = w.checkNew(t, c, "poison")[0]
	w.settled(t, "billing", 1)
	next := w.checkNew(t, c, "fine")[0]
	testkit.WaitFor(t, 10*time.Second, "the next event", func() bool { return got.count(next) == 1 })
	w.settled(t, "billing", 2)
	if n := got.count(first); n != 1 {
		t.Errorf("the terminated event was delivered %d times", n)
	}
}

// A message in the stream that is not a paybridge event is terminated and
// reported, never given to the handler, and the events after it flow.
func TestNotAPaybridgeEventIsTerminatedAndReported(t *testing.T) {
	w := newBridge(t, bridge.Config{})
	c := newClient(t, w.nc)
	var got deliveries
	reports := make(chan error, 10)
	subscribe(t, c, "billing", func(ctx context.Context, ev events.Event) error {
		got.add(ev)
		return nil
	}, client.OnError(func(err error) { reportTo(reports, err) }))
	js, err := jetstream.New(w.nc)
	must(t, err)
	ack, err := js.Publish(t.Context(), "payments.status.changed", []byte(`{"hello":"world"}`))
	must(t, err)

	var invalid *client.InvalidMessageError
	if err := receive(t, reports, "the report of the junk"); !errors.As(err, &invalid) || !errors.Is(err, events.ErrInvalidEvent) {
		t.Fatalf("reported %v, want an *InvalidMessageError", err)
	}
	if invalid.Sequence != ack.Sequence || invalid.Subject != "payments.status.changed" {
		t.Errorf("reported %+v, want sequence %d", invalid, ack.Sequence)
	}
	w.settled(t, "billing", ack.Sequence)
	id := w.checkNew(t, c, "after-junk")[0]
	testkit.WaitFor(t, 10*time.Second, "the event after the junk", func() bool { return got.count(id) == 1 })
	if all := got.all(); len(all) != 1 {
		t.Errorf("the handler got %v", all)
	}
	select {
	case err := <-reports:
		t.Errorf("reported again: %v", err)
	default:
	}
}

// Two subscribers with one durable name, on connections of their own as
// two replicas would be, share the one consumer: each gets some events,
// together all, and none gets one twice.
func TestOneDurableNameSplitsEvents(t *testing.T) {
	w := newBridge(t, bridge.Config{})
	c := newClient(t, w.nc)
	var replicas [2]deliveries
	for i := range replicas {
		nc, err := w.connect()
		must(t, err)
		subscribe(t, newClient(t, nc), "billing", func(ctx context.Context, ev events.Event) error {
			replicas[i].add(ev)
			return nil
		})
	}
	js, err := jetstream.New(w.nc)
	must(t, err)
	cons, err := js.Consumer(t.Context(), client.DefaultEventStream, "billing")
	must(t, err)
	created := cons.CachedInfo().Created
	testkit.WaitFor(t, 10*time.Second, "both replicas to wait for events", func() bool {
		info, err := cons.Info(t.Context())
		must(t, err)
		return info.NumWaiting >= 2
	})

	want := w.checkNew(t, c, "s-0", "s-1", "s-2", "s-3", "s-4", "s-5", "s-6", "s-7", "s-8", "s-9")
	testkit.WaitFor(t, 10*time.Second, "every event handled", func() bool {
		return len(replicas[0].all())+len(replicas[1].all()) >= len(want)
	})
	info := w.settled(t, "billing", uint64(len(want)))
	a, b := replicas[0].all(), replicas[1].all()
	if len(a) == 0 || len(b) == 0 {
		t.Errorf("one replica got nothing: %v and %v", a, b)
	}
	union := append(slices.Clone(a), b...)
	slices.Sort(union)
	slices.Sort(want)
	if !slices.Equal(union, want) {
		t.Errorf("the replicas got %v and %v, want each of %v once", a, b, want)
	}
	if !info.Created.Equal(created) || info.Config.Durable != "billing" {
		t.Errorf("the consumer was made anew: created %s, then %s", created, info.Created)
	}
	stream, err := js.Stream(t.Context(), client.DefaultEventStream)
	must(t, err)
	names := stream.ConsumerNames(t.Context())
	var all []string
	for name := range names.Name() {
		all = append(all, name)
	}
	if !slices.Equal(all, []string{"billing"}) {
		t.Errorf("consumers on the stream: %v", all)
	}
}

// A durable consumer made by hand (as the README once showed) is joined
// as it is: where it starts and its ack wait stay; only the filter follows
// what Subscribe asks for.
func TestSubscribeJoinsAnExistingConsumerAsItIs(t *testing.T) {
	w := newBridge(t, bridge.Config{})
	js, err := jetstream.New(w.nc)
	must(t, err)
	_, err = js.CreateOrUpdateConsumer(t.Context(), client.DefaultEventStream, jetstream.ConsumerConfig{
		Durable: "billing", FilterSubject: "payments.status.changed", AckPolicy: jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverNewPolicy, AckWait: 2 * time.Minute,
	})
	must(t, err)
	c := newClient(t, w.nc)
	handled := make(chan string, 10)
	handler := func(ctx context.Context, ev events.Event) error { handled <- ev.ID; return nil }
	sub := subscribe(t, c, "billing", handler)
	id := w.checkNew(t, c, "j-1")[0]
	if got := receive(t, handled, "the event"); got != id {
		t.Fatalf("handled %s, want %s", got, id)
	}
	sub.Stop()

	subscribe(t, c, "billing", handler, client.WithWatchExpired())
	cons, err := js.Consumer(t.Context(), client.DefaultEventStream, "billing")
	must(t, err)
	cfg := cons.CachedInfo().Config
	if cfg.DeliverPolicy != jetstream.DeliverNewPolicy || cfg.AckWait != 2*time.Minute ||
		!slices.Equal(cfg.FilterSubjects, []string{"payments.status.changed", "payments.watch.expired"}) {
		t.Errorf("the consumer's configuration became %+v", cfg)
	}
}

// A durable consumer made by hand whose filter lists Subscribe's subjects
// in another order is joined with no update (which a deployment that
// withholds the CREATE permission, as the contract suggests, would refuse).
func TestSubscribeJoinsAConsumerWhoseFilterIsInAnotherOrder(t *testing.T) {
	w := newBridge(t, bridge.Config{})
	js, err := jetstream.New(w.nc)
	must(t, err)
	_, err = js.CreateOrUpdateConsumer(t.Context(), client.DefaultEventStream, jetstream.ConsumerConfig{
		Durable: "billing", FilterSubjects: []string{"payments.watch.expired", "payments.status.changed"},
		AckPolicy: jetstream.AckExplicitPolicy,
	})
	must(t, err)
	spy, err := w.nc.SubscribeSync("$JS.API.CONSUMER.CREATE.>")
	must(t, err)
	c := newClient(t, w.nc)
	subscribe(t, c, "billing", func(context.Context, events.Event) error { return nil }, client.WithWatchExpired())
	must(t, w.nc.Flush())
	if n, _, err := spy.Pending(); err != nil || n != 0 {
		t.Fatalf("%d consumer create or update requests (%v), want none", n, err)
	}
}

// A durable consumer made by hand with another ack policy cannot be
// changed to explicit acks (the server refuses with err_code 10012):
// Subscribe says so, naming the consumer and what to do, and leaves the
// consumer as it was.
func TestSubscribeRefusesAConsumerWithoutExplicitAcks(t *testing.T) {
	w := newBridge(t, bridge.Config{})
	js, err := jetstream.New(w.nc)
	must(t, err)
	c := newClient(t, w.nc)
	for _, policy := range []jetstream.AckPolicy{jetstream.AckAllPolicy, jetstream.AckNonePolicy} {
		durable := "by-hand-" + strings.ToLower(policy.String())
		_, err = js.CreateOrUpdateConsumer(t.Context(), client.DefaultEventStream, jetstream.ConsumerConfig{
			Durable: durable, FilterSubject: "payments.status.changed", AckPolicy: policy})
		must(t, err)
		sub, err := c.Subscribe(within(t, 10*time.Second), durable, func(context.Context, events.Event) error { return nil })
		if err == nil {
			sub.Stop()
			t.Fatalf("Subscribe joined %s, a consumer with ack policy %s", durable, policy)
		}
		want := fmt.Sprintf("subscribing %[1]s to stream PAYMENT_EVENTS: consumer %[1]s has ack policy %[2]s, "+
			"and JetStream cannot change it to the explicit acks Subscribe needs: "+
			"delete the consumer (nats consumer rm PAYMENT_EVENTS %[1]s) or subscribe with another durable name", durable, policy)
		if err.Error() != want {
			t.Errorf("Subscribe to %s failed with\n%v\nwant\n%s", durable, err, want)
		}
		cons, err := js.Consumer(t.Context(), client.DefaultEventStream, durable)
		must(t, err)
		if got := cons.CachedInfo().Config.AckPolicy; got != policy {
			t.Errorf("%s's ack policy became %s", durable, got)
		}
	}
}

// Watch-expired events reach a subscriber that asks for them, and only
// that one.
func TestWatchExpiredEventsOnlyWhenAskedFor(t *testing.T) {
	w := newBridge(t, bridge.Config{WatchSchedule: []time.Duration{100 * time.Millisecond}, WatchDeadline: 500 * time.Millisecond})
	c := newClient(t, w.nc)
	var changes, everything deliveries
	subscribe(t, c, "changes", func(ctx context.Context, ev events.Event) error { changes.add(ev); return nil })
	subscribe(t, c, "everything", func(ctx context.Context, ev events.Event) error { everything.add(ev); return nil },
		client.WithWatchExpired())
	w.addPending(t, "never-settles")
	if _, err := c.Check(within(t, 10*time.Second), "coinbar", "never-settles", client.Watch()); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "the watch-expired event", func() bool {
		everything.mu.Lock()
		defer everything.mu.Unlock()
		return slices.Equal(everything.types, []string{events.TypeStatusChanged, events.TypeWatchExpired})
	})
	w.settled(t, "changes", 1)
	changes.mu.Lock()
	defer changes.mu.Unlock()
	if !slices.Equal(changes.types, []string{events.TypeStatusChanged}) {
		t.Errorf("the subscriber of changes got %v", changes.types)
	}
}

// The handler's context holds the event's trace context as its remote
// parent, so a span started there continues the check's trace.
func TestSubscribeContinuesTheEventsTrace(t *testing.T) {
	w := newBridge(t, bridge.Config{})
	c := newClient(t, w.nc)
	contexts := make(chan trace.SpanContext, 2)
	subscribe(t, c, "billing", func(ctx context.Context, ev events.Event) error {
		contexts <- trace.SpanContextFromContext(ctx)
		return nil
	})
	publish := func(id, traceParent, traceState string) {
		status := paybridge.StatusPending
		ev := events.NewStatusChanged(id, events.StatusChanged{Provider: "coinbar", PaymentID: id, Status: status,
			ProviderStatus: "PENDING", ObservedAt: time.Now(), Revision: 1})
		ev.TraceParent, ev.TraceState = traceParent, traceState
		msg, err := events.Encode("payments.status.changed", ev, events.Binary)
		must(t, err)
		msg.Header.Set(nats.MsgIdHdr, id)
		js, err := jetstream.New(w.nc)
		must(t, err)
		_, err = js.PublishMsg(t.Context(), msg)
		must(t, err)
	}

	publish("traced", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "vendor=opaque")
	sc := receive(t, contexts, "the traced event")
	if sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || sc.SpanID().String() != "00f067aa0ba902b7" ||
		!sc.IsRemote() || !sc.IsSampled() || sc.TraceState().Get("vendor") != "opaque" {
		t.Errorf("the handler's span context is %+v", sc)
	}
	publish("untraced", "", "")
	if sc := receive(t, contexts, "the untraced event"); sc.IsValid() {
		t.Errorf("an event without a trace gave the handler %+v", sc)
	}
}

// Follow reads the stored events in order, from the first when asked, and
// skips what is not an event, saying so.
func TestFollowReadsTheStreamInOrder(t *testing.T) {
	w := newBridge(t, bridge.Config{})
	c := newClient(t, w.nc)
	want := w.checkNew(t, c, "f-1", "f-2")
	js, err := jetstream.New(w.nc)
	must(t, err)
	_, err = js.Publish(t.Context(), "payments.status.changed", []byte("junk"))
	must(t, err)
	want = append(want, w.checkNew(t, c, "f-3")...)

	var got deliveries
	reports := make(chan error, 10)
	sub, err := c.Follow(within(t, 10*time.Second), client.FollowConfig{FromFirst: true, OnError: func(err error) { reportTo(reports, err) }},
		func(ctx context.Context, ev events.Event) { got.add(ev) })
	must(t, err)
	defer sub.Stop()
	testkit.WaitFor(t, 10*time.Second, "three events", func() bool { return len(got.all()) == len(want) })
	if !slices.Equal(got.all(), want) {
		t.Errorf("followed %v, want %v", got.all(), want)
	}
	var invalid *client.InvalidMessageError
	if err := receive(t, reports, "the report of the junk"); !errors.As(err, &invalid) || invalid.Sequence != 3 {
		t.Errorf("reported %v, want the junk at sequence 3", err)
	}
	sub.Stop()
	receive(t, sub.Closed(), "Closed after Stop")
}

// Stop cancels the context of a handler still running; Drain lets the
// events already received be handled and acknowledged before Closed.
func TestStopCancelsTheHandlersContext(t *testing.T) {
	w := newBridge(t, bridge.Config{})
	c := newClient(t, w.nc)
	entered, canceled := make(chan struct{}, 1), make(chan error, 1)
	sub := subscribe(t, c, "stopped", func(ctx context.Context, ev events.Event) error {
		entered <- struct{}{}
		<-ctx.Done()
		canceled <- ctx.Err()
		return ctx.Err()
	})
	w.checkNew(t, c, "d-1")
	receive(t, entered, "the handler to run")
	sub.Stop()
	if err := receive(t, canceled, "the handler's context to end"); !errors.Is(err, context.Canceled) {
		t.Errorf("the handler's context ended with %v", err)
	}
	receive(t, sub.Closed(), "Closed after Stop")
}

func TestDrainHandlesTheEventsAlreadyReceived(t *testing.T) {
	w := newBridge(t, bridge.Config{})
	checks := newClient(t, w.nc)
	// The subscriber has a connection of its own, so that the messages it
	// counts are the events and nothing else.
	nc, err := w.connect()
	must(t, err)
	t.Cleanup(nc.Close)
	var got deliveries
	release := make(chan struct{})
	sub := subscribe(t, newClient(t, nc), "drained", func(ctx context.Context, ev events.Event) error {
		<-release
		got.add(ev)
		return nil
	})
	before := nc.Stats().InMsgs
	want := w.checkNew(t, checks, "d-1", "d-2", "d-3")
	// Received means read off the connection: one event is in the handler,
	// two wait in the subscription's buffer. That the server has sent them
	// is not enough; Drain would race the ones still on the way.
	testkit.WaitFor(t, 10*time.Second, "every event received by the subscriber", func() bool {
		return nc.Stats().InMsgs-before >= uint64(len(want))
	})
	sub.Drain()
	close(release)
	receive(t, sub.Closed(), "Closed after Drain")
	if !slices.Equal(got.all(), want) {
		t.Errorf("drained subscriber handled %v, want %v", got.all(), want)
	}
	w.settled(t, "drained", 3)
}

func TestSubscribeRefusesBadArguments(t *testing.T) {
	w := newBridge(t, bridge.Config{})
	c := newClient(t, w.nc)
	ok := func(context.Context, events.Event) error { return nil }
	for _, tc := range []struct {
		durable string
		handler func(context.Context, events.Event) error
		opts    []client.SubscribeOption
		want    string
	}{
		{"", ok, nil, "durable consumer name must not be empty"},
		{"billing.eu", ok, nil, `durable consumer name "billing.eu" must not contain`},
		{"billing", nil, nil, "needs a handler"},
		{"billing", ok, []client.SubscribeOption{client.RetryBackoff(time.Second, time.Millisecond)}, "want 0 < first <= max"},
		{"billing", ok, []client.SubscribeOption{client.OnError(nil)}, "OnError needs a function"},
	} {
		_, err := c.Subscribe(within(t, 5*time.Second), tc.durable, tc.handler, tc.opts...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Subscribe(%q): %v, want an error naming %q", tc.durable, err, tc.want)
		}
	}
	missing := newClient(t, w.nc, client.WithEventStream("NO_SUCH_STREAM"))
	if _, err := missing.Subscribe(within(t, 5*time.Second), "billing", ok); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("Subscribe to a missing stream: %v", err)
	}
	if _, err := missing.Follow(within(t, 5*time.Second), client.FollowConfig{}, func(context.Context, events.Event) {}); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("Follow of a missing stream: %v", err)
	}
}

// reportTo passes err on to reports, or drops it when the test has stopped
// reading: a report never holds up the subscription.
func reportTo(reports chan<- error, err error) {
	select {
	case reports <- err:
	default:
	}
}

// One trace from end to end: a check made in the caller's span reaches the
// bridge, whose event brings the same trace to the subscriber's handler.
func TestOneTraceFromCheckToSubscriber(t *testing.T) {
	w := newBridge(t, bridge.Config{})
	must(t, w.addExamplePayments())
	c := newClient(t, w.nc)
	contexts := make(chan trace.SpanContext, 1)
	subscribe(t, c, "traced-billing", func(ctx context.Context, ev events.Event) error {
		if ev.Data.PaymentID == "order-2" {
			contexts <- trace.SpanContextFromContext(ctx)
		}
		return nil
	})
	caller := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
		SpanID:  trace.SpanID{0, 0xf0, 0x67, 0xaa, 1, 2, 3, 4}, TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(within(t, 10*time.Second), caller)
	if _, err := c.Check(ctx, "coinbar", "order-2"); err != nil {
		t.Fatal(err)
	}
	if sc := receive(t, contexts, "the event of the check"); sc.TraceID() != caller.TraceID() {
		t.Fatalf("the handler is in trace %s, the check was in %s", sc.TraceID(), caller.TraceID())
	}
}
