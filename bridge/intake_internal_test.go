package bridge

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/natsembed"
)

// testJetStream is JetStream on a NATS server of the test's own, on a
// loopback port with a temporary store.
func testJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Config{Host: "127.0.0.1", Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// A queued check's deliveries that only waited for a slot are no attempts:
// one that went back for a slot nine times and then fails once is put
// back for another attempt, where one that failed at each of its ten
// deliveries is given up.
func TestSlotWaitsBringNoQueuedCheckNearerItsGiveUp(t *testing.T) {
	js := testJetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	consumer, err := ensureCheckStream(ctx, js, Config{CheckStream: "TEST_CHECKS", QueuedCheckSubject: "test.queued", Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	failure := paybridge.Errorf(paybridge.CodeProviderUnavailable, "coinbar answered HTTP 503")
	job := &job{endpoint: queuedEndpoint, req: CheckRequest{Provider: "coinbar", PaymentID: "order-1"}}

	for _, waited := range []bool{true, false} {
		in := &intake{consumer: consumer, log: slog.New(slog.DiscardHandler),
			given: newSummary(slog.New(slog.DiscardHandler), time.Hour, "given up")}
		if _, err := js.Publish(ctx, "test.queued", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		var msg jetstream.Msg
		for delivery := 1; delivery <= queuedMaxDeliveries; delivery++ {
			msg = next(t, consumer, 5*time.Second)
			meta, err := msg.Metadata()
			if err != nil || meta.NumDelivered != uint64(delivery) {
				t.Fatalf("delivery %d: %+v, %v", delivery, meta, err)
			}
			if delivery == queuedMaxDeliveries {
				break
			}
			if waited {
				in.waits.add(meta.Sequence.Stream) // went back for want of a slot
			}
			// Back at once, rather than after settle's delay of an attempt
			// (seconds that double): a delivery as any other.
			if err := msg.Nak(); err != nil {
				t.Fatal(err)
			}
		}
		in.settle(ctx, msg, job, failure)
		again, err := consumer.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var redelivered jetstream.Msg
		for m := range again.Messages() {
			redelivered = m
		}
		switch {
		case waited && redelivered == nil:
			t.Fatal("a check that had waited nine times for a slot was given up at its first failure")
		case !waited && redelivered != nil:
			t.Fatal("a check that failed at each of its ten deliveries was not given up")
		}
		if redelivered != nil {
			_ = redelivered.Term()
		}
	}
}

// A check's slot waits stay uncounted as attempts for all its attempts,
// not only the first: nine waits, then two failures, is two attempts of
// ten, and the check goes back again.
func TestSlotWaitsStayUncountedAfterAnAttempt(t *testing.T) {
	js := testJetStream(t)
	ctx := t.Context()
	consumer, err := ensureCheckStream(ctx, js, Config{CheckStream: "TEST_CHECKS", QueuedCheckSubject: "test.queued", Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	failure := paybridge.Errorf(paybridge.CodeProviderUnavailable, "coinbar answered HTTP 503")
	job := &job{endpoint: queuedEndpoint, req: CheckRequest{Provider: "coinbar", PaymentID: "order-1"}}
	in := &intake{consumer: consumer, log: slog.New(slog.DiscardHandler),
		given: newSummary(slog.New(slog.DiscardHandler), time.Hour, "given up")}
	if _, err := js.Publish(ctx, "test.queued", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	for range queuedMaxDeliveries - 1 {
		msg := next(t, consumer, 5*time.Second)
		_, seq := deliveryOf(msg)
		in.waits.add(seq) // went back for want of a slot
		if err := msg.Nak(); err != nil {
			t.Fatal(err)
		}
	}
	in.settle(ctx, next(t, consumer, 5*time.Second), job, failure)  // delivery 10, attempt 1
	in.settle(ctx, next(t, consumer, 10*time.Second), job, failure) // delivery 11, attempt 2
	again := next(t, consumer, 10*time.Second)                      // attempt 3, after 4 s
	in.settle(ctx, again, job, nil)
	if n := len(in.waits.bySeq); n != 0 {
		t.Errorf("%d checks' waits kept after the check was done", n)
	}
}

// next fetches the consumer's next message, waiting up to d.
func next(t *testing.T, c jetstream.Consumer, d time.Duration) jetstream.Msg {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		batch, err := c.Fetch(1, jetstream.FetchMaxWait(time.Until(deadline)))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			return m
		}
	}
	t.Fatalf("no message within %s", d)
	return nil
}
