package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers/fake"
)

// Two instances both process every check (each in its own queue group),
// so every change is raced for; each transition must still be announced
// exactly once.
func TestTwoInstancesPublishEachTransitionOnce(t *testing.T) {
	e := newEnv(t)
	// Room for every check of a round, and for those the slower instance
	// still has from the round before: this test is about events, not
	// capacity.
	e.startBridge(bridge.Config{QueueGroup: "a", MaxInflight: 4096})
	e.startBridge(bridge.Config{QueueGroup: "b", MaxInflight: 4096})
	const n = 200
	id := func(i int) string { return fmt.Sprintf("dual-%03d", i) }
	for i := range n {
		e.addCoinbar(id(i), "PENDING", "")
	}
	// Each request is answered by the faster instance; the slower one may
	// still be busy with it when the next round starts, and a check that
	// arrives while a provider call is under way shares that call, so a
	// reply of the second round may still say pending.
	checkAll := func(want ...paybridge.Status) {
		parallel(n*2, func(i int) {
			r := e.check(map[string]any{"provider": "coinbar", "payment_id": id(i % n)})
			if r.OK == nil || !slices.Contains(want, r.OK.Status) {
				t.Errorf("%s: %s", id(i%n), r.Raw)
			}
		})
	}
	checkAll(paybridge.StatusPending)
	for i := range n {
		must(t, e.coinbar.Set(id(i), fake.Step{Status: "SUCCESS"}))
	}
	checkAll(paybridge.StatusPending, paybridge.StatusPaid)
	checkAll(paybridge.StatusPaid)

	testkit.WaitFor(t, 10*time.Second, "all events", func() bool { return len(e.events()) >= 2*n })
	// The stream drops a publish repeating an event id, so what is stored
	// shows each transition claimed once; TestCoreSubscriberSeesEachChangeOnce
	// shows each also published once.
	evs := e.events()
	perPayment := map[string][]paybridge.Status{}
	for _, ev := range evs {
		perPayment[ev.Subject] = append(perPayment[ev.Subject], ev.Data.Status)
	}
	if len(evs) != 2*n {
		t.Fatalf("%d events, want %d", len(evs), 2*n)
	}
	for i := range n {
		got := perPayment[id(i)]
		if len(got) != 2 || got[0] != paybridge.StatusPending || got[1] != paybridge.StatusPaid {
			t.Fatalf("%s: events %v", id(i), got)
		}
	}
}

var errCrash = errors.New("simulated crash between claim and publish")

func TestReconcilerPublishesAChangeLeftUnpublished(t *testing.T) {
	e := newEnv(t)
	crashing := e.startBridge(bridge.Config{})
	var claimed bridge.Record
	crashing.SetAfterClaim(func(r bridge.Record) error { claimed = r; return errCrash })
	e.addMuvinai("pr_crash", "approved", "correct", "15000.50")

	r := e.check(map[string]any{"provider": "muvinai", "payment_id": "pr_crash"})
	if r.Err == nil || r.Err.Error.Code != paybridge.CodeInternal {
		t.Fatalf("crashed check: %s", r.Raw)
	}
	if claimed.EventID == "" || claimed.Published {
		t.Fatalf("claimed record: %+v", claimed)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	must(t, crashing.Close(ctx))
	if len(e.events()) != 0 {
		t.Fatal("the crashed instance published")
	}

	calls := e.muvinai.Calls("pr_crash")
	e.startBridge(bridge.Config{ReconcileInterval: 20 * time.Millisecond, ReconcileGrace: 50 * time.Millisecond})
	testkit.WaitFor(t, 10*time.Second, "the reconciler's publish", func() bool { return len(e.events()) == 1 })
	ev := e.events()[0]
	if ev.ID != claimed.EventID || ev.Data.Status != paybridge.StatusPaid || ev.Data.Revision != claimed.Revision {
		t.Fatalf("republished event %+v, claimed %+v", ev, claimed)
	}
	if e.muvinai.Calls("pr_crash") != calls {
		t.Fatal("the reconciler asked the provider")
	}
	// The record ends up marked published, so nobody publishes it again.
	testkit.WaitFor(t, 5*time.Second, "the record marked published", func() bool {
		rec, ok := e.stored("muvinai", "pr_crash")
		return ok && rec.Published && rec.EventID == claimed.EventID
	})
}

// The outbox keeps one note per claim: a note of another change of the
// same payment never replaces one, a note of the same claim (a racing
// instance's twin) does, and notes written before the event id joined the
// subject are read with their key.
func TestOutboxKeepsANotePerClaim(t *testing.T) {
	e := newEnv(t)
	ob, err := bridge.OpenOutbox(t.Context(), e.js, bridge.Config{})
	must(t, err)
	key := bridge.Key("coinbar", "p1")
	for _, id := range []string{"claim-x", "claim-y", "claim-x"} {
		_, err := ob.Note(t.Context(), key, id)
		must(t, err)
	}
	_, err = e.js.Publish(t.Context(), "paybridge.outbox."+bridge.Key("muvinai", "old"), []byte(`{"event_id":"claim-old"}`))
	must(t, err)
	notes, err := ob.Pending(t.Context(), 10)
	must(t, err)
	var got []string
	for _, n := range notes {
		got = append(got, n.Key+" "+n.EventID)
	}
	want := []string{key + " claim-y", key + " claim-x", "muvinai.old claim-old"}
	if !slices.Equal(got, want) {
		t.Fatalf("outbox holds %q, want %q", got, want)
	}
}

// A later change of a record left unpublished announces the old change
// first, so neither event is lost even before the reconciler runs.
func TestNextChangeAnnouncesAnUnpublishedOneFirst(t *testing.T) {
	e := newEnv(t)
	b := e.startBridge(bridge.Config{})
	crash := true
	b.SetAfterClaim(func(bridge.Record) error {
		if crash {
			crash = false
			return errCrash
		}
		return nil
	})
	e.addCoinbar("chain", "PENDING", "")
	if r := e.check(map[string]any{"provider": "coinbar", "payment_id": "chain"}); r.Err == nil {
		t.Fatalf("crash expected: %s", r.Raw)
	}
	must(t, e.coinbar.Set("chain", fake.Step{Status: "SUCCESS"}))
	if r := e.mustCheck("coinbar", "chain"); r.Status != paybridge.StatusPaid || *r.PreviousStatus != paybridge.StatusPending {
		t.Fatalf("second: %+v", r)
	}
	testkit.WaitFor(t, 5*time.Second, "both events", func() bool { return len(e.eventsFor("chain")) == 2 })
	evs := e.eventsFor("chain")
	if evs[0].Data.Status != paybridge.StatusPending || evs[1].Data.Status != paybridge.StatusPaid {
		t.Fatalf("events out of order: %v, %v", evs[0].Data.Status, evs[1].Data.Status)
	}
}

func storedPublished(t *testing.T, e *env, provider, id string) bool {
	rec, ok := e.stored(provider, id)
	return ok && rec.Published
}

func TestCloseAnswersEveryCheckInFlight(t *testing.T) {
	e := newEnv(t)
	b := e.startBridge(bridge.Config{})
	const n = 20
	for i := range n {
		id := fmt.Sprintf("slow-%d", i)
		e.addCoinbar(id, "PENDING", "")
		must(t, e.coinbar.Fault(id, fake.Fault{Times: 1, Delay: 400 * time.Millisecond}))
	}
	results := make(chan reply, n)
	for i := range n {
		go func() {
			results <- e.check(map[string]any{"provider": "coinbar", "payment_id": fmt.Sprintf("slow-%d", i)})
		}()
	}
	testkit.WaitFor(t, 5*time.Second, "all checks at the provider", func() bool { return len(e.coinbar.Requests()) == n })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(t, b.Close(ctx))
	for range n {
		if r := <-results; r.OK == nil || r.OK.Status != paybridge.StatusPending {
			t.Fatalf("in-flight check: %s", r.Raw)
		}
	}
	// Closed: nobody answers now.
	if _, err := e.nc.Request("payments.check", []byte(`{"provider":"coinbar","payment_id":"slow-1"}`), 200*time.Millisecond); err == nil {
		t.Fatal("a closed bridge answered")
	}
}

func TestStructuredEventMode(t *testing.T) {
	e := newEnv(t)
	e.startBridge(bridge.Config{EventMode: events.Structured})
	e.addCoinbar("structured", "SUCCESS", "")
	e.mustCheck("coinbar", "structured")
	testkit.WaitFor(t, 5*time.Second, "event", func() bool { return len(e.events()) == 1 })
	s, err := e.js.Stream(t.Context(), "PAYMENT_EVENTS")
	must(t, err)
	m, err := s.GetMsg(t.Context(), 1)
	must(t, err)
	if ct := m.Header.Get("Content-Type"); ct != events.ContentTypeCloudEvents || m.Header.Get("ce-id") != "" {
		t.Fatalf("structured message headers: %v", m.Header)
	}
}

// A view that lags (here: claims a record is still unpublished) must not
// make the bridge publish an announced change again: past the duplicate
// window the stream would store it twice. Only KV is trusted for that.
func TestStaleViewNeverRepublishes(t *testing.T) {
	e := newEnv(t)
	// With no grace period every unpublished claim is overdue: the check
	// goes to announce it, and only the store can stop it.
	b := e.startBridge(bridge.Config{ReconcileGrace: time.Nanosecond})
	e.addCoinbar("lagging", "PENDING", "")
	first := e.mustCheck("coinbar", "lagging")
	testkit.WaitFor(t, 5*time.Second, "the record marked published", func() bool { return storedPublished(t, e, "coinbar", "lagging") })
	rec, _ := e.stored("coinbar", "lagging")
	rec.Published = false
	b.ForceView(bridge.Key("coinbar", "lagging"), rec, first.Revision+100)

	// A core subscription sees every publish, even one the stream drops
	// as a duplicate; the event would reach it before the reply does.
	sub, err := e.nc.SubscribeSync("payments.status.changed")
	must(t, err)
	must(t, e.nc.Flush())
	if r := e.mustCheck("coinbar", "lagging"); r.Changed {
		t.Fatalf("reply: %+v", r)
	}
	if n, _, _ := sub.Pending(); n != 0 {
		t.Fatalf("%d events published again from a stale view", n)
	}
}

// An instance whose view lags compares a provider answer with a record
// another writer has already replaced, and finds "no change" where there
// was one. When its watch delivers the replacement, the answer is applied:
// the change is stored and announced after all.
func TestLaggingViewMissesNoChange(t *testing.T) {
	e := newEnv(t)
	b := e.startBridge(bridge.Config{})
	key := bridge.Key("muvinai", "pr_lag")
	e.addMuvinai("pr_lag", "pending", "not_paid", "0")
	e.mustCheck("muvinai", "pr_lag")
	testkit.WaitFor(t, 5*time.Second, "first sight published", func() bool { return storedPublished(t, e, "muvinai", "pr_lag") })
	kv, err := e.js.KeyValue(t.Context(), "payment_status")
	must(t, err)
	before, err := kv.Get(t.Context(), key)
	must(t, err)
	old, _ := e.stored("muvinai", "pr_lag")

	must(t, e.muvinai.Set("pr_lag", fake.Step{Status: "pending", Detail: "underpaid", AmountPaid: "5"}))
	if r := e.mustCheck("muvinai", "pr_lag"); r.Status != paybridge.StatusUnderpaid {
		t.Fatalf("second: %+v", r)
	}
	testkit.WaitFor(t, 5*time.Second, "underpaid published", func() bool { return storedPublished(t, e, "muvinai", "pr_lag") })
	latest, err := kv.Get(t.Context(), key)
	must(t, err)
	testkit.WaitFor(t, 5*time.Second, "the watch to deliver the latest revision", func() bool { return b.WatchedRevision() >= latest.Revision() })

	// The view goes back to the first record, as if the watch had not yet
	// delivered the underpaid one; the provider is back at pending.
	b.ForceView(key, old, before.Revision())
	must(t, e.muvinai.Set("pr_lag", fake.Step{Status: "pending", Detail: "not_paid"}))
	if r := e.mustCheck("muvinai", "pr_lag"); r.Changed {
		t.Fatalf("the lagging view saw the change: %+v", r)
	}
	must(t, b.Redeliver(t.Context(), key))
	testkit.WaitFor(t, 5*time.Second, "the missed change announced", func() bool { return len(e.eventsFor("pr_lag")) == 3 })
	last := e.eventsFor("pr_lag")[2]
	if last.Data.Status != paybridge.StatusPending || last.Data.PreviousStatus == nil || *last.Data.PreviousStatus != paybridge.StatusUnderpaid {
		t.Fatalf("missed change: %+v", last.Data)
	}
	if rec, _ := e.stored("muvinai", "pr_lag"); rec.Status != paybridge.StatusPending {
		t.Fatalf("stored %s", rec.Status)
	}
}
