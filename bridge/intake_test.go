package bridge_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers/fake"
)

// enqueue publishes a queued check and waits for the stream's PubAck.
func (e *env) enqueue(body string) {
	e.t.Helper()
	if _, err := e.js.Publish(e.t.Context(), "payments.check.queued", []byte(body)); err != nil {
		e.t.Fatalf("enqueue %s: %v", body, err)
	}
}

// queuedConsumer reads the shared consumer of queued checks.
func (e *env) queuedConsumer() *jetstream.ConsumerInfo {
	e.t.Helper()
	c, err := e.js.Consumer(e.t.Context(), "PAYMENT_CHECKS", "paybridge-checks")
	must(e.t, err)
	info, err := c.Info(e.t.Context())
	must(e.t, err)
	return info
}

// A check queued while no bridge runs waits in the stream, and the next
// bridge to start checks it.
func TestQueuedCheckSurvivesABridgeThatIsDown(t *testing.T) {
	e := newEnv(t)
	first := e.startBridge(bridge.Config{})
	must(t, first.Close(t.Context()))
	e.addCoinbar("queued-1", "SUCCESS", "")
	e.enqueue(`{"provider":"coinbar","payment_id":"queued-1"}`)

	e.startBridge(bridge.Config{})
	testkit.WaitFor(t, 10*time.Second, "the queued check done", func() bool {
		rec, ok := e.stored("coinbar", "queued-1")
		return ok && rec.Status == paybridge.StatusPaid && rec.Published
	})
	testkit.WaitFor(t, 5*time.Second, "the queued check acknowledged", func() bool {
		info := e.queuedConsumer()
		return info.NumPending == 0 && info.NumAckPending == 0
	})
}

// A burst far past the in-flight slots is taken at the pace they free up,
// and every check of it is done: none is dropped.
func TestQueuedBurstPastTheSlotsIsDoneWhole(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	e.startBridge(bridge.Config{MaxInflight: 2, Registerer: reg})
	const n = 150
	for i := range n {
		id := fmt.Sprintf("burst-%03d", i)
		e.addMuvinai(id, "pending", "not_paid", "0")
		must(t, e.muvinai.Fault(id, fake.Fault{Times: 1, Delay: 20 * time.Millisecond}))
		e.enqueue(`{"provider":"muvinai","payment_id":"` + id + `"}`)
	}
	testkit.WaitFor(t, 60*time.Second, "every queued check done", func() bool {
		return metricValue(t, reg, "paybridge_requests_total", "endpoint", "queued", "outcome", "changed") == n
	})
	if got := len(e.events()); got != n {
		t.Fatalf("%d events for %d queued checks", got, n)
	}
}

// A queued message that is no check is ended at once, counted, and never
// delivered again.
func TestInvalidQueuedCheckIsEndedAndCounted(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	e.startBridge(bridge.Config{Registerer: reg})
	e.enqueue(`{"provider":"coinbar"}`)
	e.enqueue(`not json`)
	e.enqueue(`{"provider":"made-up","payment_id":"p"}`)
	testkit.WaitFor(t, 10*time.Second, "the refusals counted", func() bool {
		return metricValue(t, reg, "paybridge_requests_total", "endpoint", "queued", "outcome", "invalid_request") == 2 &&
			metricValue(t, reg, "paybridge_requests_total", "endpoint", "queued", "outcome", "unknown_provider") == 1
	})
	testkit.WaitFor(t, 5*time.Second, "the stream empty", func() bool {
		s, err := e.js.Stream(context.Background(), "PAYMENT_CHECKS")
		must(t, err)
		info, err := s.Info(context.Background())
		must(t, err)
		return info.State.Msgs == 0
	})
	if info := e.queuedConsumer(); info.NumRedelivered != 0 || info.NumAckPending != 0 {
		t.Fatalf("a refused check is redelivered: %+v", info)
	}
}
