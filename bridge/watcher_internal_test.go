package bridge

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/fake"
	"github.com/paybridge/paybridge/schemas"
)

// Watches wait as message schedules, which nats-server has from 2.12 on; a
// version this cannot read is left to the stream's configuration to tell.
// (Checked by hand against a real nats-server 2.11.9: serve stops at start
// with ErrNoMsgSchedules and leaves the watch stream as it was.)
func TestSchedulesMessagesFromNATSServer212(t *testing.T) {
	for v, want := range map[string]bool{
		"2.11.9":      false,
		"2.10.22":     false,
		"2.9.25":      false,
		"2.12.0":      true,
		"2.12.0-RC.1": true,
		"2.15.2":      true,
		"3.0.0":       true,
		"":            true,
		"dev":         true,
	} {
		if got := schedulesMessages(v); got != want {
			t.Errorf("schedulesMessages(%q) = %v, want %v", v, got, want)
		}
	}
}

// A watch's next schedule repeats only on the last step, when that step
// is long enough for JetStream's whole seconds, for the permanent answers'
// retries and for a last provider call to end before the next firing, and
// the deadline is more than a step away.
func TestNextRepeatsOnlyALongLastStep(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	order := watchOrder{Since: now, Deadline: now.Add(time.Hour)}
	s := func(d ...time.Duration) []time.Duration { return d }
	for _, c := range []struct {
		schedule []time.Duration
		call     time.Duration // the provider call's timeout
		rechecks int
		deadline time.Duration
		every    time.Duration
	}{
		{s(time.Second, 10*time.Second), time.Second, 0, time.Hour, 10 * time.Second},
		{s(10*time.Second, 30*time.Second, time.Minute), 30 * time.Second, 0, time.Hour, 0}, // not yet the last step
		{s(10*time.Second, 30*time.Second, time.Minute), 30 * time.Second, 1, time.Hour, time.Minute},
		{s(10*time.Second, 30*time.Second, time.Minute), 30 * time.Second, 5, time.Hour, time.Minute},
		{s(10*time.Second, 30*time.Second, 59*time.Second), 30 * time.Second, 5, time.Hour, 0}, // under three first steps and a call
		{s(time.Second, 10*time.Second), 30 * time.Second, 0, time.Hour, 0},                    // under a call and three first steps
		{s(time.Second, 5*time.Second), time.Second, 0, time.Hour, 0},                          // under 10 s
		{s(5*time.Second, 10*time.Second), time.Second, 0, time.Hour, 0},                       // shorter than three first steps
		{s(time.Minute), time.Second, 0, time.Hour, 0},                                         // one step: shorter than three of itself
		{s(time.Second, 10*time.Second), time.Second, 0, 10 * time.Second, 0},                  // the deadline within the step
		{s(time.Second, 10*time.Second), time.Second, 0, 10*time.Second + 1, 10 * time.Second},
	} {
		o := order
		o.Rechecks, o.Deadline = c.rechecks, now.Add(c.deadline)
		w := &watcher{schedule: c.schedule, callTimeout: c.call}
		if got := o.next(c.schedule, w.minRepeat(), now).Every; got != c.every {
			t.Errorf("schedule %v, calls of %s, after %d re-checks, deadline in %s: every %s, want %s",
				c.schedule, c.call, c.rechecks, c.deadline, got, c.every)
		}
	}
}

// Every expiry of one watch names its event alike, whichever due message
// carried it; another watch of the payment (another deadline) does not.
func TestWatchExpiredIDIsTheWatchs(t *testing.T) {
	p := Payment{Provider: "coinbar", ID: "order-1"}
	d := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	if p.watchExpiredID(d) != p.watchExpiredID(d.In(time.FixedZone("x", 3600))) {
		t.Error("one deadline, two ids")
	}
	if p.watchExpiredID(d) == p.watchExpiredID(d.Add(time.Nanosecond)) {
		t.Error("two deadlines, one id")
	}
	if p.watchExpiredID(d) == (Payment{Provider: "coinbar", ID: "order-2"}).watchExpiredID(d) {
		t.Error("two payments, one id")
	}
}

// internalBridge is a bridge with the CoinbarPay fake as its only
// provider, for tests that reach into the watcher; not started.
func internalBridge(t *testing.T, cfg Config) (*Bridge, *coinbar.Fake, jetstream.JetStream) {
	t.Helper()
	js := testJetStream(t)
	cb, err := coinbar.NewFake("cid", "secret")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(cb)
	t.Cleanup(srv.Close)
	prov, err := coinbar.New(srv.URL, "cid", coinbar.WithSecretKey("secret"),
		coinbar.WithHTTPOptions(providers.WithBackoff(time.Millisecond, 5*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	b, err := New(ctx, js.Conn(), cfg, prov)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Close(ctx)
	})
	return b, cb, js
}

// A watch whose account is gone (removed from --accounts-dir) ends with a
// watch-expired event whose reason, unknown_account, its schema allows.
func TestWatchOfARemovedAccountExpiresAsItsSchemaSays(t *testing.T) {
	b, _, js := internalBridge(t, Config{WatchSchedule: []time.Duration{100 * time.Millisecond}})
	now := time.Now().UTC()
	o := watchOrder{Provider: "coinbar", Account: "gone", PaymentID: "p1", Since: now.Add(-time.Minute), Deadline: now.Add(time.Hour)}
	data, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(t.Context(), b.watcher.subjectOf(o.payment()), data); err != nil {
		t.Fatal(err)
	}
	var ev events.Event
	testkit.WaitFor(t, 10*time.Second, "a watch-expired event", func() bool {
		s, err := js.Stream(t.Context(), "PAYMENT_EVENTS")
		if err != nil {
			return false
		}
		msg, err := s.GetLastMsgForSubject(t.Context(), "payments.watch.expired")
		if err != nil {
			return false
		}
		if ev, err = events.Decode(msg.Header, msg.Data); err != nil {
			t.Fatal(err)
		}
		return true
	})
	data, err = json.Marshal(ev.Data)
	if err != nil {
		t.Fatal(err)
	}
	if err := schemas.Validate("watch-expired.json", data); err != nil || !strings.Contains(string(data), `"reason":"unknown_account"`) {
		t.Fatalf("watch-expired data: %v\n%s", err, data)
	}
}

// A check of a repeating schedule never outlives the schedule's next
// firing, which another instance may take: it begins no provider call
// that could end after it (a call, once begun, runs its course: another
// check may share it). Calls time out after 2 s here and the provider
// takes 5 s: with the next firing 1 s away the check makes no call; 3 s
// away, its call is cut at 2 s, before the firing.
func TestRepeatingCheckEndsBeforeTheNextFiring(t *testing.T) {
	b, cb, _ := internalBridge(t, Config{CheckTimeout: 2 * time.Second, WatchSchedule: []time.Duration{100 * time.Millisecond}})
	if err := cb.Add(fake.Payment{ID: "slow", Amount: "1", Currency: "EUR", Steps: []fake.Step{{Status: "PENDING"}}}); err != nil {
		t.Fatal(err)
	}
	if err := cb.Fault("slow", fake.Fault{Times: 10, Delay: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	for _, next := range []time.Duration{time.Second, 3 * time.Second} {
		now := b.cfg.Clock.Now()
		order := watchOrder{Provider: "coinbar", PaymentID: "slow", Since: now.Add(-time.Hour), Deadline: now.Add(time.Hour),
			Every: b.watcher.minRepeat(), Next: now.Add(next)}
		calls := cb.Calls("slow")
		start := time.Now()
		_, err := b.watcher.check(t.Context(), b.checker, order)
		took := time.Since(start)
		if err == nil || took >= next {
			t.Errorf("next firing in %s: the check took %s (%v)", next, took, err)
		}
		if made := cb.Calls("slow") - calls; (next == time.Second) != (made == 0) {
			t.Errorf("next firing in %s: %d provider calls", next, made)
		}
	}
}
