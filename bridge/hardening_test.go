package bridge_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/natsembed"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/fake"
)

// A core subscription sees every publish, including the repeats the stream
// drops as duplicates. Two instances that both process every check of
// payments moving to paid must still put each change on the subject once:
// a check that finds a change claimed by the other instance leaves its
// publish to that claimer.
func TestCoreSubscriberSeesEachChangeOnce(t *testing.T) {
	e := newEnv(t)
	// Room for every check at once: 900 of one provider.
	e.startBridge(bridge.Config{QueueGroup: "a", MaxInflight: 2048})
	e.startBridge(bridge.Config{QueueGroup: "b", MaxInflight: 2048})
	const n, checksEach = 150, 6
	id := func(i int) string { return fmt.Sprintf("core-%03d", i) }
	for i := range n {
		e.addCoinbar(id(i), "PENDING", "")
	}

	var mu sync.Mutex
	seen := map[string]int{}
	sub, err := e.nc.Subscribe("payments.status.changed", func(m *nats.Msg) {
		mu.Lock()
		seen[m.Header.Get("ce-id")]++
		mu.Unlock()
	})
	must(t, err)
	t.Cleanup(func() { sub.Unsubscribe() })
	must(t, e.nc.Flush())

	checkAll := func() {
		parallel(n*checksEach, func(i int) {
			if r := e.check(map[string]any{"provider": "coinbar", "payment_id": id(i % n)}); r.OK == nil {
				t.Errorf("%s: %s", id(i%n), r.Raw)
			}
		})
	}
	checkAll()
	for i := range n {
		must(t, e.coinbar.Set(id(i), fake.Step{Status: "SUCCESS"}))
	}
	checkAll()

	testkit.WaitFor(t, 10*time.Second, "every change stored", func() bool { return len(e.events()) == 2*n })
	testkit.WaitFor(t, 5*time.Second, "every change on the subject", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 2*n
	})
	mu.Lock()
	defer mu.Unlock()
	repeated := 0
	for eventID, count := range seen {
		if count > 1 {
			repeated++
			t.Logf("event %s seen %d times", eventID, count)
		}
	}
	if repeated > 0 || len(seen) != 2*n {
		t.Fatalf("%d of %d events seen more than once on the subject (want 0, and %d distinct)", repeated, len(seen), 2*n)
	}
	for _, ev := range e.events() {
		if ev.Data.Status != providers.StatusPending && ev.Data.Status != providers.StatusPaid {
			t.Fatalf("event %+v", ev.Data)
		}
	}
}

// Another instance may rewrite a claim before its claimer marks it
// published, noting a watch in it. The claimer then marks the rewritten
// record, so the claim does not stay unpublished for the reconciler to
// announce a second time.
func TestClaimRewrittenBeforeItsMarkIsMarkedPublished(t *testing.T) {
	e := newEnv(t)
	b := e.startBridge(bridge.Config{})
	kv, err := e.js.KeyValue(t.Context(), "payment_status")
	must(t, err)
	until := time.Now().Add(time.Hour).UTC().Round(0)
	b.SetAfterClaim(func(r bridge.Record) error {
		entry, err := kv.Get(t.Context(), bridge.Key("coinbar", "rewritten"))
		if err != nil {
			return err
		}
		var stored bridge.Record
		if err := json.Unmarshal(entry.Value(), &stored); err != nil {
			return err
		}
		stored.WatchUntil = &until
		value, err := json.Marshal(stored)
		if err != nil {
			return err
		}
		_, err = kv.Update(t.Context(), entry.Key(), value, entry.Revision())
		return err
	})
	e.addCoinbar("rewritten", "PENDING", "")
	r := e.mustCheck("coinbar", "rewritten")
	if !r.Changed {
		t.Fatalf("reply: %+v", r)
	}
	rec, ok := e.stored("coinbar", "rewritten")
	if !ok || !rec.Published || rec.WatchUntil == nil || !rec.WatchUntil.Equal(until) || rec.EventID != r.EventID {
		t.Fatalf("stored: %+v", rec)
	}
	if evs := e.eventsFor("rewritten"); len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
}

// A provider that hangs takes only its own share of the in-flight limit:
// fire-and-forget checks beyond it wait in a bounded queue and are dropped
// (and counted) past it, the intake never blocks, lookups never wait on
// provider slots, and the other provider's checks are answered at once.
func TestOneHangingProviderStarvesNothingElse(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	// Two providers: a share of 4 each, and a queue of 4 each.
	e.startBridge(bridge.Config{MaxInflight: 8, Registerer: reg})
	e.addCoinbar("cb-ok", "PENDING", "")
	e.mustCheck("coinbar", "cb-ok")
	const sent = 30
	for i := range sent {
		id := fmt.Sprintf("mv-hang-%d", i)
		e.addMuvinai(id, "pending", "not_paid", "0")
		must(t, e.muvinai.Fault(id, fake.Fault{Times: 1, Delay: 1500 * time.Millisecond}))
		must(t, e.nc.Publish("payments.check", []byte(`{"provider":"muvinai","payment_id":"`+id+`"}`)))
	}
	must(t, e.nc.Flush())
	testkit.WaitFor(t, 5*time.Second, "muvinai's share in flight", func() bool { return len(e.muvinai.Requests()) == 4 })
	testkit.WaitFor(t, 5*time.Second, "the checks past the queue dropped", func() bool {
		return metricValue(t, reg, "paybridge_checks_dropped_total", "provider", "muvinai") == sent-8
	})

	// Each of these must be answered while muvinai hangs (well within
	// the fault's delay).
	for _, c := range []struct{ subject, body string }{
		{"payments.status.get", `{"provider":"coinbar","payment_id":"cb-ok"}`},
		{"payments.check", `{"provider":"coinbar","payment_id":"cb-ok"}`},
	} {
		msg, err := e.nc.Request(c.subject, []byte(c.body), time.Second)
		must(t, err)
		if r := e.decodeReply(msg); r.OK == nil {
			t.Fatalf("%s while muvinai hangs: %s", c.subject, r.Raw)
		}
	}
	// A muvinai check with someone waiting is refused at once.
	msg, err := e.nc.Request("payments.check", []byte(`{"provider":"muvinai","payment_id":"mv-hang-0"}`), time.Second)
	must(t, err)
	if r := e.decodeReply(msg); r.Err == nil || r.Err.Error.Code != providers.CodeOverloaded {
		t.Fatalf("muvinai check past its share: %s", r.Raw)
	}
	// The queued checks run once slots free up: 4 in flight + 4 queued.
	testkit.WaitFor(t, 10*time.Second, "the queued checks run", func() bool { return len(e.muvinai.Requests()) == 8 })
	testkit.WaitFor(t, 10*time.Second, "the queued checks stored", func() bool { return len(e.events()) == 1+8 })
}

// A reply the NATS server would refuse for its size is answered with an
// error instead: every request gets exactly one reply.
func TestReplyTooLargeIsAnsweredWithAnError(t *testing.T) {
	e := newEnv(t, func(c *natsembed.Config) { c.MaxPayload = 900 })
	e.startBridge(bridge.Config{})
	id := strings.Repeat("p", 256)
	// Words the mapping does not know are never stored, so only the
	// reply carries them.
	must(t, e.muvinai.Add(fake.Payment{ID: id, Amount: "1", Currency: "ARS",
		Steps: []fake.Step{{Status: "weird", Detail: strings.Repeat("d", 250)}}}))
	r := e.check(map[string]any{"provider": "muvinai", "payment_id": id, "request_id": strings.Repeat("r", 128)})
	if r.Err == nil || r.Err.Error.Code != providers.CodeInternal || !strings.Contains(r.Err.Error.Message, "more than the NATS server accepts") {
		t.Fatalf("reply: %s", r.Raw)
	}
	if r.Err.PaymentID != id {
		t.Fatalf("the error reply does not echo the payment: %s", r.Raw)
	}
}
