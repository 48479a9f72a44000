package client_test

import (
	"context"
	"errors"
	"strings"
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
	"github.com/paybridge/paybridge/providers/fake"
)

// runBridge starts a bridge with cfg on both fakes and returns a function
// that stops it, for a test that needs the bridge down for a while. The
// world stops it at the end if the test did not.
func (w *world) runBridge(t *testing.T, cfg bridge.Config) (stop func()) {
	t.Helper()
	provs, err := w.providers()
	must(t, err)
	nc, err := w.connect()
	must(t, err)
	b, err := bridge.New(within(t, 10*time.Second), nc, cfg, provs...)
	must(t, err)
	must(t, b.Start())
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			must(t, b.Close(ctx))
		}
	}
	w.onClose(stop)
	return stop
}

// queuedStream reads the stream of queued checks.
func (w *world) queuedStream(t *testing.T) jetstream.Stream {
	t.Helper()
	js, err := jetstream.New(w.nc)
	must(t, err)
	s, err := js.Stream(t.Context(), client.DefaultCheckStream)
	must(t, err)
	return s
}

// statusEvents are the events published on payments.status.changed from now
// on, decoded, through a core subscription.
func (w *world) statusEvents(t *testing.T) <-chan events.Event {
	t.Helper()
	ch := make(chan events.Event, 64)
	sub, err := w.nc.Subscribe(client.DefaultStatusChangedSubject, func(m *nats.Msg) {
		ev, err := events.DecodeMsg(m)
		if err != nil {
			t.Errorf("an event that does not decode: %v", err)
			return
		}
		select {
		case ch <- ev:
		default:
			t.Errorf("more events than the test reads: %s %s", ev.Data.PaymentID, ev.Data.Status)
		}
	})
	must(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	must(t, w.nc.Flush())
	return ch
}

// A check queued before any bridge ever ran has no stream to go to, and
// says so. Once a bridge has made the stream, a check queued while no
// bridge runs is stored; the next bridge to start checks it, the event is
// published, and the stream is left empty.
func TestEnqueuedCheckWaitsForABridge(t *testing.T) {
	w := newWorld(t)
	must(t, w.addExamplePayments())
	c := newClient(t, w.nc)

	_, err := c.Enqueue(within(t, 5*time.Second), "coinbar", "order-2")
	if !errors.Is(err, client.ErrNoCheckStream) || !errors.Is(err, nats.ErrNoResponders) || !strings.Contains(err.Error(), "payments.check.queued") {
		t.Fatalf("enqueue with no stream: %v, want ErrNoCheckStream naming the subject", err)
	}
	var pe *paybridge.Error
	if errors.As(err, &pe) {
		t.Errorf("no stream became a coded error: %+v", pe)
	}

	w.runBridge(t, bridge.Config{})() // the stream made, and the bridge gone
	stored, err := c.Enqueue(within(t, 5*time.Second), "coinbar", "order-2", client.RequestID("sweep-1"))
	must(t, err)
	if stored != (client.Enqueued{Stream: "PAYMENT_CHECKS", Sequence: 1}) {
		t.Fatalf("enqueued %+v", stored)
	}
	msg, err := w.queuedStream(t).GetMsg(t.Context(), stored.Sequence)
	must(t, err)
	if got, want := string(msg.Data), `{"provider":"coinbar","payment_id":"order-2","request_id":"sweep-1"}`; got != want {
		t.Errorf("the stream holds %s, want %s", got, want)
	}
	if id := msg.Header.Get(jetstream.MsgIDHeader); id != "" {
		t.Errorf("a queued check carries Nats-Msg-Id %q without DedupeID", id)
	}

	evs := w.statusEvents(t)
	w.runBridge(t, bridge.Config{})
	ev := receive(t, evs, "the queued check's event")
	if ev.Data.Provider != "coinbar" || ev.Data.PaymentID != "order-2" || ev.Data.Status != paybridge.StatusPaid || ev.Data.PreviousStatus != nil {
		t.Errorf("event %+v", ev.Data)
	}
	testkit.WaitFor(t, 10*time.Second, "the queued check acknowledged", func() bool {
		info, err := w.queuedStream(t).Info(t.Context())
		must(t, err)
		return info.State.Msgs == 0
	})
	rep, err := c.Status(within(t, 5*time.Second), "coinbar", "order-2")
	must(t, err)
	if rep.Status != paybridge.StatusPaid || rep.EventID != "" || rep.Revision == 0 {
		t.Errorf("stored after the queued check: %+v", rep)
	}
}

// A stream at its limit refuses the publish at once, and the caller sees
// why: overloaded (retryable), naming the stream and the limit, with
// JetStream's own answer beneath. Once a bridge has taken the checks
// stored, there is room again.
func TestEnqueueToAFullStreamIsOverloaded(t *testing.T) {
	w := newWorld(t)
	w.addPending(t, "p-1", "p-2", "p-3")
	w.runBridge(t, bridge.Config{})()
	s := w.queuedStream(t)
	info, err := s.Info(t.Context())
	must(t, err)
	if info.Config.Discard != jetstream.DiscardNew {
		t.Fatalf("the bridge's stream discards %v, want new", info.Config.Discard)
	}
	tiny := info.Config
	tiny.MaxMsgs = 2
	js, err := jetstream.New(w.nc)
	must(t, err)
	_, err = js.UpdateStream(t.Context(), tiny)
	must(t, err)

	c := newClient(t, w.nc)
	for _, id := range []string{"p-1", "p-2"} {
		_, err := c.Enqueue(within(t, 5*time.Second), "coinbar", id)
		must(t, err)
	}
	_, err = c.Enqueue(within(t, 5*time.Second), "coinbar", "p-3")
	if !errors.Is(err, client.ErrOverloaded) || errors.Is(err, client.ErrNoCheckStream) {
		t.Fatalf("enqueue to a full stream: %v, want ErrOverloaded", err)
	}
	var pe *paybridge.Error
	if !errors.As(err, &pe) || !pe.Code.Retryable() || pe.Message != "stream PAYMENT_CHECKS is full (maximum messages exceeded); the check was not queued" {
		t.Errorf("the refusal says %+v", pe)
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10077 {
		t.Errorf("JetStream's answer is not beneath: %v", err)
	}

	evs := w.statusEvents(t)
	w.runBridge(t, bridge.Config{})
	for range 2 {
		receive(t, evs, "an event of a queued check")
	}
	testkit.WaitFor(t, 10*time.Second, "room in the stream", func() bool {
		info, err := s.Info(t.Context())
		must(t, err)
		return info.State.Msgs == 0
	})
	_, err = c.Enqueue(within(t, 5*time.Second), "coinbar", "p-3")
	must(t, err)
	if ev := receive(t, evs, "the event of p-3"); ev.Data.PaymentID != "p-3" {
		t.Errorf("event of %q", ev.Data.PaymentID)
	}
}

// Without DedupeID every enqueue is stored, the same payment twice
// included; with one, the stream keeps the first of those with the same
// id and says Duplicate to the others. The options of the check request
// travel in its body, the trace context in its headers.
func TestEnqueueDedupeIDAndOptions(t *testing.T) {
	w := newWorld(t)
	w.runBridge(t, bridge.Config{})()
	c := newClient(t, w.nc)
	ctx := within(t, 10*time.Second)

	first, err := c.Enqueue(ctx, "coinbar", "order-1")
	must(t, err)
	second, err := c.Enqueue(ctx, "coinbar", "order-1")
	must(t, err)
	if second.Sequence != first.Sequence+1 || first.Duplicate || second.Duplicate {
		t.Errorf("two enqueues without DedupeID: %+v, %+v; want both stored", first, second)
	}

	span := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	traced := trace.ContextWithSpanContext(ctx, span)
	opts := []client.EnqueueOption{client.DedupeID("sweep-7/coinbar/shop-a/order-1"), client.Account("shop-a"),
		client.Watch(), client.MaxAge(5 * time.Minute), client.RequestID("sweep-7")}
	stored, err := c.Enqueue(traced, "coinbar", "order-1", opts...)
	must(t, err)
	again, err := c.Enqueue(traced, "coinbar", "order-1", opts...)
	must(t, err)
	if stored.Duplicate || !again.Duplicate || again.Sequence != stored.Sequence || again.Stream != "PAYMENT_CHECKS" {
		t.Errorf("the same DedupeID twice: %+v, then %+v; want the second a duplicate of the first", stored, again)
	}
	info, err := w.queuedStream(t).Info(t.Context())
	must(t, err)
	if info.State.Msgs != 3 {
		t.Errorf("the stream holds %d checks, want 3", info.State.Msgs)
	}
	msg, err := w.queuedStream(t).GetMsg(t.Context(), stored.Sequence)
	must(t, err)
	want := `{"provider":"coinbar","account":"shop-a","payment_id":"order-1","max_age":"5m0s","watch":true,"request_id":"sweep-7"}`
	if string(msg.Data) != want {
		t.Errorf("the stream holds %s, want %s", msg.Data, want)
	}
	if got := msg.Header.Get(jetstream.MsgIDHeader); got != "sweep-7/coinbar/shop-a/order-1" {
		t.Errorf("Nats-Msg-Id %q", got)
	}
	if got := msg.Header.Get("traceparent"); got != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		t.Errorf("traceparent %q", got)
	}
}

// What the bridge would refuse in a queued check, and so end unheard of,
// is refused before anything is published, in the bridge's words. No
// stream exists here: an argument let through would be ErrNoCheckStream.
func TestEnqueueRefusesWhatTheBridgeWould(t *testing.T) {
	w := newWorld(t)
	c := newClient(t, w.nc)
	for _, tc := range []struct {
		provider, id string
		opts         []client.EnqueueOption
		want         string
	}{
		{"", "order-1", nil, "provider: must be 1 to 64 bytes, got 0"},
		{strings.Repeat("p", 65), "order-1", nil, "provider: must be 1 to 64 bytes, got 65"},
		{"coinbar", "", nil, "payment_id: must be 1 to 256 bytes, got 0"},
		{"coinbar", strings.Repeat("x", 257), nil, "payment_id: must be 1 to 256 bytes, got 257"},
		{"coinbar", "ord\xffer", nil, "payment_id: not valid UTF-8 at byte 3"},
		{"coinbar", "order\n1", nil, "payment_id: contains control character U+000A at byte 5"},
		{"coinbar", "order\u00851", nil, "payment_id: contains control character U+0085 at byte 5"},
		{"coinbar", "..", nil, `payment_id: ".." is a dot segment`},
		{"coinbar", "order-1", []client.EnqueueOption{client.RequestID(strings.Repeat("r", 129))}, "request_id: must be at most 128 bytes, got 129"},
		{"coinbar", "order-1", []client.EnqueueOption{client.MaxAge(-time.Second)}, `max_age: must not be negative, got "-1s"`},
		{"coinbar", "order-1", []client.EnqueueOption{client.MaxAge(31 * 24 * time.Hour)}, `max_age: must be at most 720h0m0s, got "744h0m0s"`},
		{"coinbar", "order-1", []client.EnqueueOption{client.Account("shop 1")}, `account: may hold only letters, digits, _ and -, got "shop 1"`},
		{"coinbar", "order-1", []client.EnqueueOption{client.DedupeID("a\r\nb")}, "dedupe id: contains control character U+000D at byte 1"},
	} {
		_, err := c.Enqueue(within(t, 5*time.Second), tc.provider, tc.id, tc.opts...)
		if !errors.Is(err, client.ErrInvalidRequest) || errors.Is(err, client.ErrNoCheckStream) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("enqueue %q %q: %v, want invalid_request naming %q", tc.provider, tc.id, err, tc.want)
		}
	}
	// A valid check gets as far as the subject, where nothing stores it.
	if _, err := c.Enqueue(within(t, 5*time.Second), "coinbar", "a.b.*>", client.Account("shop_1-A")); !errors.Is(err, client.ErrNoCheckStream) {
		t.Errorf("a valid check: %v, want ErrNoCheckStream", err)
	}
}

// WithQueuedCheckSubject follows a bridge whose Config.QueuedCheckSubject
// is another; New refuses a subject that cannot be one.
func TestEnqueueOnTheBridgesQueuedSubject(t *testing.T) {
	w := newWorld(t)
	must(t, w.addExamplePayments())
	cfg := bridge.Config{QueuedCheckSubject: "shop.payments.check.queued", CheckStream: "SHOP_PAYMENT_CHECKS"}
	evs := w.statusEvents(t)
	w.runBridge(t, cfg)
	if _, err := newClient(t, w.nc).Enqueue(within(t, 5*time.Second), "coinbar", "order-2"); !errors.Is(err, client.ErrNoCheckStream) {
		t.Errorf("enqueue on the default subject: %v, want ErrNoCheckStream", err)
	}
	c := newClient(t, w.nc, client.WithQueuedCheckSubject(cfg.QueuedCheckSubject))
	stored, err := c.Enqueue(within(t, 5*time.Second), "coinbar", "order-2")
	must(t, err)
	if stored.Stream != cfg.CheckStream {
		t.Errorf("stored in %q", stored.Stream)
	}
	if ev := receive(t, evs, "the queued check's event"); ev.Data.PaymentID != "order-2" {
		t.Errorf("event of %q", ev.Data.PaymentID)
	}
	if _, err := client.New(w.nc, client.WithQueuedCheckSubject("payments.check.*")); err == nil ||
		!strings.Contains(err.Error(), `queued-check subject "payments.check.*": must not contain wildcards`) {
		t.Errorf("New with a wildcard queued-check subject: %v", err)
	}
}

// A queued check whose provider keeps failing is retried by the bridge,
// not lost: the first attempt fails, a later one is done.
func TestEnqueuedCheckOutlivesAFailingProvider(t *testing.T) {
	w := newWorld(t)
	must(t, w.coinbar.Add(fake.Payment{ID: "flaky", Amount: "8.99", Currency: "EUR", Steps: []fake.Step{{Status: "SUCCESS"}}}))
	must(t, w.coinbar.Fault("flaky", fake.Fault{Times: 4, Status: 503})) // one call, its retries included
	evs := w.statusEvents(t)
	w.runBridge(t, bridge.Config{})
	_, err := newClient(t, w.nc).Enqueue(within(t, 5*time.Second), "coinbar", "flaky")
	must(t, err)
	if ev := receive(t, evs, "the event once the provider answers"); ev.Data.PaymentID != "flaky" || ev.Data.Status != paybridge.StatusPaid {
		t.Errorf("event %+v", ev.Data)
	}
}
