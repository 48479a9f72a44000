package bridge_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/internal/testkit"
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
	e.startBridge(bridge.Config{QueueGroup: "a"})
	e.startBridge(bridge.Config{QueueGroup: "b"})
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
