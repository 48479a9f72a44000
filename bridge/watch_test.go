package bridge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/fake"
)

// fastWatches re-checks every 150ms.
func fastWatches(cfg bridge.Config) bridge.Config {
	cfg.WatchSchedule = []time.Duration{150 * time.Millisecond}
	return cfg
}

// watches counts the messages in the watch stream.
func (e *env) watches() int {
	e.t.Helper()
	s, err := e.js.Stream(e.t.Context(), "PAYMENT_WATCHES")
	must(e.t, err)
	info, err := s.Info(e.t.Context())
	must(e.t, err)
	return int(info.State.Msgs)
}

func (e *env) watchCheck(provider, id string) paybridge.Reply {
	e.t.Helper()
	r := e.check(map[string]any{"provider": provider, "payment_id": id, "watch": true})
	if r.OK == nil {
		e.t.Fatalf("watch %s: %s", id, r.Raw)
	}
	return *r.OK
}

func TestWatchPollsUntilPaidThenStops(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	e.startBridge(fastWatches(bridge.Config{Registerer: reg}))
	must(t, e.coinbar.Add(fake.Payment{ID: "w1", Amount: "10", Currency: "EUR", Steps: []fake.Step{
		{Status: "PENDING", Calls: 2}, {Status: "SUCCESS"},
	}}))
	r := e.watchCheck("coinbar", "w1")
	if !r.Watching || r.Status != paybridge.StatusPending {
		t.Fatalf("watch reply: %+v", r)
	}
	testkit.WaitFor(t, 10*time.Second, "the watch to end", func() bool { return e.watches() == 0 })
	if calls := e.coinbar.Calls("w1"); calls != 3 {
		t.Fatalf("%d provider calls, want 3 (check, pending poll, paid poll)", calls)
	}
	evs := e.eventsFor("w1")
	if len(evs) != 2 || evs[0].Data.Status != paybridge.StatusPending || evs[1].Data.Status != paybridge.StatusPaid {
		t.Fatalf("events: %+v", evs)
	}
	// A settled payment reports no watch.
	if got := e.mustCheck("coinbar", "w1"); got.Watching {
		t.Fatalf("after: %+v", got)
	}
	if v := metricValue(t, reg, "paybridge_watches_ended_total", "outcome", "settled"); v != 1 {
		t.Fatalf("watches ended (settled) = %v", v)
	}
	if v := metricValue(t, reg, "paybridge_watch_lag_seconds_count"); v != 2 {
		t.Fatalf("watch lag observed %v times, want 2 polls", v)
	}
}

// watchExpired waits for the one watch-expired event and the watch's end,
// and returns the event.
func (e *env) watchExpired() events.Event {
	e.t.Helper()
	var expired []events.Event
	testkit.WaitFor(e.t, 10*time.Second, "the watch-expired event", func() bool {
		expired = nil
		for _, ev := range e.events() {
			if ev.Type == events.TypeWatchExpired {
				expired = append(expired, ev)
			}
		}
		return len(expired) == 1 && e.watches() == 0
	})
	return expired[0]
}

// metricValue returns the value of the series name with the given label
// pairs (a histogram's sample count for name_count), or NaN while there is
// no such series: it equals no value a test waits for or expects.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	must(t, err)
	family, count := name, false
	if base, ok := strings.CutSuffix(name, "_count"); ok {
		family, count = base, true
	}
	for _, f := range families {
		if f.GetName() != family {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
				}
				if !found {
					continue next
				}
			}
			switch {
			case count:
				return float64(m.GetHistogram().GetSampleCount())
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return math.NaN()
}

func TestAskingManyTimesKeepsOneWatch(t *testing.T) {
	e := newEnv(t)
	e.startBridge(bridge.Config{}) // the default schedule: no poll during the test
	e.addMuvinai("pr_many", "pending", "not_paid", "0")
	parallel(50, func(int) {
		if r := e.watchCheck("muvinai", "pr_many"); !r.Watching {
			t.Errorf("reply: %+v", r)
		}
	})
	if n := e.watches(); n != 1 {
		t.Fatalf("%d watches for one payment", n)
	}
	// The record names the deadline of that one watch.
	s, err := e.js.Stream(t.Context(), "PAYMENT_WATCHES")
	must(t, err)
	m, err := s.GetLastMsgForSubject(t.Context(), "paybridge.watch.at."+bridge.Key("muvinai", "pr_many"))
	must(t, err)
	var order struct{ Deadline time.Time }
	must(t, json.Unmarshal(m.Data, &order))
	if rec, _ := e.stored("muvinai", "pr_many"); rec.WatchUntil == nil || !rec.WatchUntil.Equal(order.Deadline) {
		t.Fatalf("record watches until %v, the watch's deadline is %s", rec.WatchUntil, order.Deadline)
	}
	// A plain check sees the watch in force, and so does a lookup.
	if r := e.mustCheck("muvinai", "pr_many"); !r.Watching {
		t.Fatalf("plain check: %+v", r)
	}
	if r := e.request("payments.status.get", []byte(`{"provider":"muvinai","payment_id":"pr_many"}`)); r.OK == nil || !r.OK.Watching {
		t.Fatalf("lookup: %s", r.Raw)
	}
}

func TestWatchSurvivesBridgeAndNATSRestarts(t *testing.T) {
	e := newEnv(t)
	cfg := bridge.Config{WatchSchedule: []time.Duration{300 * time.Millisecond}}
	first := e.startBridge(cfg)
	e.addCoinbar("w-restart", "PENDING", "")
	e.watchCheck("coinbar", "w-restart")
	testkit.WaitFor(t, 10*time.Second, "a poll", func() bool { return e.coinbar.Calls("w-restart") >= 2 })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(t, first.Close(ctx))
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	e.startNATS()
	testkit.WaitFor(t, 10*time.Second, "the test connection back", e.nc.IsConnected)

	must(t, e.coinbar.Set("w-restart", fake.Step{Status: "SUCCESS"}))
	e.startBridge(cfg)
	testkit.WaitFor(t, 20*time.Second, "the watch to end after the restarts", func() bool {
		return len(e.eventsFor("w-restart")) == 2 && e.watches() == 0
	})
	evs := e.eventsFor("w-restart")
	if evs[0].Data.Status != paybridge.StatusPending || evs[1].Data.Status != paybridge.StatusPaid || evs[0].ID == evs[1].ID {
		t.Fatalf("events: %+v", evs)
	}
}

func TestTwoInstancesShareWatchesAndPollOnce(t *testing.T) {
	e := newEnv(t)
	const step = 300 * time.Millisecond
	cfg := bridge.Config{WatchSchedule: []time.Duration{step}, QueueGroup: "a"}
	e.startBridge(cfg)
	cfg.QueueGroup = "b"
	e.startBridge(cfg)
	const n = 20
	for i := range n {
		id := fmt.Sprintf("shared-%d", i)
		must(t, e.coinbar.Add(fake.Payment{ID: id, Amount: "1", Currency: "EUR", Steps: []fake.Step{
			{Status: "PENDING", Calls: 4}, {Status: "SUCCESS"},
		}}))
	}
	// Each of the two instances answers every request, so each payment is
	// asked to be watched twice: still one watch.
	parallel(n, func(i int) { e.watchCheck("coinbar", fmt.Sprintf("shared-%d", i)) })
	testkit.WaitFor(t, 20*time.Second, "every watch to end", func() bool { return e.watches() == 0 && len(e.events()) == 2*n })
	for i := range n {
		id := fmt.Sprintf("shared-%d", i)
		times := e.calls.of("coinbar /coinbar/api/v2/pay/gateway/payment/" + id + "/status")
		// The two initial checks race (both instances answer the request);
		// after them, polls must keep the schedule's spacing: a poll done
		// by both instances would show as two calls close together.
		polls := times[2:]
		for j := 1; j < len(polls); j++ {
			if gap := polls[j].Sub(polls[j-1]); gap < step/2 {
				t.Fatalf("%s: polls %d and %d only %s apart", id, j-1, j, gap)
			}
		}
	}
}

// Two instances share the watches: each due re-check is delivered to one
// of them, once. Every payment is pending for its first check and three
// re-checks, then paid: exactly five provider calls each, two events, and
// the two instances together observe the lag of exactly four re-checks a
// payment, each late by less than a second against its step.
func TestADueReCheckIsDeliveredOnceAcrossTwoInstances(t *testing.T) {
	e := newEnv(t)
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
	for _, reg := range regs {
		e.startBridge(bridge.Config{Registerer: reg, WatchSchedule: []time.Duration{300 * time.Millisecond}})
	}
	const n = 10
	for i := range n {
		must(t, e.coinbar.Add(fake.Payment{ID: fmt.Sprintf("once-%d", i), Amount: "1", Currency: "EUR", Steps: []fake.Step{
			{Status: "PENDING", Calls: 4}, {Status: "SUCCESS"},
		}}))
	}
	parallel(n, func(i int) { e.watchCheck("coinbar", fmt.Sprintf("once-%d", i)) })
	testkit.WaitFor(t, 30*time.Second, "every watch to end", func() bool { return e.watches() == 0 && len(e.events()) == 2*n })
	for i := range n {
		if calls := e.coinbar.Calls(fmt.Sprintf("once-%d", i)); calls != 5 {
			t.Errorf("once-%d: %d provider calls, want 5 (the check and four re-checks)", i, calls)
		}
	}
	var rechecks, underASecond float64
	for _, reg := range regs {
		rechecks += metricValue(t, reg, "paybridge_watch_lag_seconds_count")
		underASecond += bucketCount(t, reg, "paybridge_watch_lag_seconds", "1")
	}
	if rechecks != 4*n || underASecond != rechecks {
		t.Errorf("the instances observed %v re-checks, %v of them less than 1 s late; want %d, all", rechecks, underASecond, 4*n)
	}
}

// bucketCount is the cumulative count of a histogram's bucket le.
func bucketCount(t *testing.T, reg *prometheus.Registry, name, le string) float64 {
	t.Helper()
	families, err := reg.Gather()
	must(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, b := range m.GetHistogram().GetBucket() {
				if fmt.Sprint(b.GetUpperBound()) == le {
					return float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return math.NaN()
}

// A watch stored by an earlier version, a plain order waiting out a nak
// on its payment's subject, is checked when delivered and goes on as a
// schedule until its payment settles.
func TestAWatchOfAnEarlierVersionGoesOnAsASchedule(t *testing.T) {
	e := newEnv(t)
	_, err := e.js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "PAYMENT_WATCHES", Subjects: []string{"paybridge.watch.>"},
		Retention: jetstream.WorkQueuePolicy, MaxMsgsPerSubject: 1, Discard: jetstream.DiscardNew, DiscardNewPerSubject: true,
		MaxMsgs: 1_000_000, MaxMsgSize: 4096})
	must(t, err)
	must(t, e.coinbar.Add(fake.Payment{ID: "legacy", Amount: "1", Currency: "EUR", Steps: []fake.Step{
		{Status: "PENDING", Calls: 2}, {Status: "SUCCESS"},
	}}))
	now := time.Now().UTC()
	order, err := json.Marshal(map[string]any{"provider": "coinbar", "payment_id": "legacy",
		"since": now.Add(-time.Minute), "deadline": now.Add(time.Hour)})
	must(t, err)
	_, err = e.js.Publish(t.Context(), "paybridge.watch."+bridge.Key("coinbar", "legacy"), order)
	must(t, err)
	e.startBridge(bridge.Config{WatchSchedule: []time.Duration{300 * time.Millisecond}})
	testkit.WaitFor(t, 20*time.Second, "the watch to end", func() bool {
		evs := e.eventsFor("legacy")
		return len(evs) == 2 && evs[1].Data.Status == paybridge.StatusPaid && e.watches() == 0
	})
	if calls := e.coinbar.Calls("legacy"); calls != 3 {
		t.Fatalf("%d provider calls, want 3 (the old order's check, a re-check on the schedule, the paid one)", calls)
	}
}

// A watch's checks are due by the clock of the instance that schedules
// them, and a schedule fires by the NATS server's: an instance whose clock
// runs a minute ahead (or behind) of the server's still has its watches
// re-checked a step apart, not a minute late (or at once).
func TestAWatchKeepsItsStepsWhateverTheBridgesClock(t *testing.T) {
	for _, skew := range []time.Duration{time.Minute, -time.Minute} {
		t.Run(skew.String(), func(t *testing.T) {
			e := newEnv(t)
			e.startBridge(bridge.Config{Clock: skewedClock(skew), WatchSchedule: []time.Duration{time.Second}})
			must(t, e.coinbar.Add(fake.Payment{ID: "skewed", Amount: "1", Currency: "EUR", Steps: []fake.Step{
				{Status: "PENDING", Calls: 3}, {Status: "SUCCESS"},
			}}))
			e.watchCheck("coinbar", "skewed")
			testkit.WaitFor(t, 20*time.Second, "the watch to end", func() bool { return e.watches() == 0 })
			// The check and three re-checks; the paid answer, dated by the
			// provider a minute before this instance's clock, may be asked
			// again at once as a late answer (docs/contract.md, "Late
			// answers").
			times := e.calls.of("coinbar /coinbar/api/v2/pay/gateway/payment/skewed/status")
			if len(times) < 4 {
				t.Fatalf("%d provider calls, want 4: %v", len(times), times)
			}
			for i := 1; i < 4; i++ {
				if gap := times[i].Sub(times[i-1]); gap < 900*time.Millisecond || gap > 2*time.Second {
					t.Errorf("calls %d and %d %s apart, want the step of 1s", i-1, i, gap)
				}
			}
		})
	}
}

// scheduleOf reads the schedule a watch waits on, or nil when it has none.
func (e *env) scheduleOf(key string) *jetstream.RawStreamMsg {
	e.t.Helper()
	s, err := e.js.Stream(e.t.Context(), "PAYMENT_WATCHES")
	must(e.t, err)
	m, err := s.GetLastMsgForSubject(e.t.Context(), "paybridge.watch.at."+key)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	must(e.t, err)
	return m
}

// waitForSchedule waits until the payment key's schedule is pattern
// ("@every 10s") and returns it.
func (e *env) waitForSchedule(key, pattern string) *jetstream.RawStreamMsg {
	e.t.Helper()
	var m *jetstream.RawStreamMsg
	testkit.WaitFor(e.t, 10*time.Second, "the schedule "+pattern, func() bool {
		m = e.scheduleOf(key)
		return m != nil && m.Header.Get("Nats-Schedule") == pattern
	})
	return m
}

// A watch on its last step waits on one repeating schedule, which fires
// every step and stores nothing per re-check; once its next firing would
// pass the deadline it is replaced by a check at the deadline, which ends
// the watch on time, and the schedule is gone.
func TestAWatchOnItsLastStepRepeatsItsSchedule(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	e.startBridge(bridge.Config{Registerer: reg, CheckTimeout: 5 * time.Second, WatchSchedule: []time.Duration{time.Second, 10 * time.Second},
		WatchDeadline: 25 * time.Second})
	must(t, e.coinbar.Add(fake.Payment{ID: "rep", Amount: "1", Currency: "EUR", Steps: []fake.Step{{Status: "PENDING"}}}))
	e.watchCheck("coinbar", "rep")
	sched := e.waitForSchedule("coinbar.rep", "@every 10s")
	calls := func() []time.Time { return e.calls.of("coinbar /coinbar/api/v2/pay/gateway/payment/rep/status") }
	// The check, the re-check a second later, and the schedule's first
	// firing, at about 11 s, which leaves it as it was.
	testkit.WaitFor(t, 20*time.Second, "a repeating re-check", func() bool { return len(calls()) >= 3 })
	if now := e.scheduleOf("coinbar.rep"); now == nil || now.Sequence != sched.Sequence {
		t.Fatalf("the schedule was stored again: %+v, was %+v", now, sched)
	}
	// At about 21 s, its next firing would pass the deadline.
	testkit.WaitFor(t, 20*time.Second, "the check at the deadline", func() bool {
		m := e.scheduleOf("coinbar.rep")
		return m != nil && strings.HasPrefix(m.Header.Get("Nats-Schedule"), "@at ")
	})
	ev := e.watchExpired()
	times := calls()
	if len(times) != 4 {
		t.Fatalf("%d provider calls, want 4 (the deadline ends the watch without one): %v", len(times), times)
	}
	// JetStream fires a repeating schedule on whole seconds: a step is
	// 10 s to within half a second.
	for i := 2; i < 4; i++ {
		if gap := times[i].Sub(times[i-1]); gap < 9500*time.Millisecond || gap > 11*time.Second {
			t.Errorf("calls %d and %d %s apart, want the step of 10s", i-1, i, gap)
		}
	}
	// The deadline, 25 s from the watch's start just after the first
	// check, is the event's time, and it came then, not at the next
	// firing (31 s).
	if d := ev.Time.Sub(times[0]); d < 25*time.Second || d > 26*time.Second {
		t.Fatalf("expired %s after the first check, want the deadline of 25s", d)
	}
	if e.scheduleOf("coinbar.rep") != nil {
		t.Fatal("the schedule outlived the watch")
	}
	if v := metricValue(t, reg, "paybridge_watch_lag_seconds_count"); v != 3 {
		t.Fatalf("watch lag observed %v times, want 3 re-checks", v)
	}
}

// A repeating schedule goes when its payment settles.
func TestASettledWatchRemovesItsRepeatingSchedule(t *testing.T) {
	e := newEnv(t)
	e.startBridge(bridge.Config{CheckTimeout: 5 * time.Second, WatchSchedule: []time.Duration{time.Second, 10 * time.Second}})
	must(t, e.coinbar.Add(fake.Payment{ID: "rep", Amount: "1", Currency: "EUR", Steps: []fake.Step{
		{Status: "PENDING", Calls: 2}, {Status: "SUCCESS"},
	}}))
	e.watchCheck("coinbar", "rep")
	e.waitForSchedule("coinbar.rep", "@every 10s")
	testkit.WaitFor(t, 20*time.Second, "the watch to end", func() bool { return e.watches() == 0 })
	if n := e.coinbar.Calls("rep"); n != 3 {
		t.Fatalf("%d provider calls, want 3 (check, re-check, the schedule's first firing)", n)
	}
	if evs := e.eventsFor("rep"); len(evs) != 2 || evs[1].Data.Status != paybridge.StatusPaid {
		t.Fatalf("events: %+v", evs)
	}
}

// A repeating schedule gone while its due check is in hand (an instance
// that ended the watch died before its ack) is stored again when the due
// message comes back: the watch goes on. Here the instance that has the
// check stops while its call hangs, which puts the due message back, and
// the other instance takes it.
func TestARepeatingWatchWhoseScheduleWentIsStoredAgain(t *testing.T) {
	e := newEnv(t)
	cfg := bridge.Config{CheckTimeout: 5 * time.Second, WatchSchedule: []time.Duration{time.Second, 10 * time.Second}}
	first := e.startBridge(cfg)
	must(t, e.coinbar.Add(fake.Payment{ID: "gone", Amount: "1", Currency: "EUR", Steps: []fake.Step{{Status: "PENDING"}}}))
	e.watchCheck("coinbar", "gone")
	e.waitForSchedule("coinbar.gone", "@every 10s")
	// The first firing's call hangs for its 5 s.
	must(t, e.coinbar.Fault("gone", fake.Fault{Times: 1, Delay: time.Minute}))
	testkit.WaitFor(t, 20*time.Second, "the first firing's call", func() bool { return e.coinbar.Calls("gone") >= 3 })
	e.startBridge(cfg)
	s, err := e.js.Stream(t.Context(), "PAYMENT_WATCHES")
	must(t, err)
	must(t, s.Purge(t.Context(), jetstream.WithPurgeSubject("paybridge.watch.at.coinbar.gone")))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	must(t, first.Close(ctx))
	testkit.WaitFor(t, 20*time.Second, "the schedule stored again", func() bool {
		m := e.scheduleOf("coinbar.gone")
		return m != nil && m.Header.Get("Nats-Schedule") == "@every 10s"
	})
}

// A repeating schedule on a step too short to hold a whole check under
// the bridge's configuration now (stored by an instance whose provider
// calls had 5 s, where they have 30 s now) is checked once more and then
// goes back to one schedule per check.
func TestARepeatingStepTooShortGoesBackToOneAtATime(t *testing.T) {
	e := newEnv(t)
	schedule := []time.Duration{time.Second, 10 * time.Second}
	before := e.startBridge(bridge.Config{CheckTimeout: 5 * time.Second, WatchSchedule: schedule})
	must(t, e.coinbar.Add(fake.Payment{ID: "short", Amount: "1", Currency: "EUR", Steps: []fake.Step{{Status: "PENDING"}}}))
	e.watchCheck("coinbar", "short")
	e.waitForSchedule("coinbar.short", "@every 10s")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	must(t, before.Close(ctx))
	e.startBridge(bridge.Config{WatchSchedule: schedule})
	calls := e.coinbar.Calls("short")
	testkit.WaitFor(t, 20*time.Second, "a schedule per check", func() bool {
		m := e.scheduleOf("coinbar.short")
		return m != nil && strings.HasPrefix(m.Header.Get("Nats-Schedule"), "@at ") && e.coinbar.Calls("short") > calls
	})
}

// A one-shot due message delivered again after its instance stored the
// watch's next schedule and died before its ack, and that then ends the
// watch (three answers that the payment does not exist), removes that
// schedule too: else it fires, and the watch is checked and expired again.
// The dead instance is the test: it takes the due message before the
// bridge starts, and puts it back.
func TestAWatchEndedByARedeliveryLeavesNoSchedule(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	b, err := bridge.New(ctx, e.connect(), bridge.Config{WatchSchedule: []time.Duration{100 * time.Millisecond, time.Minute}}, e.providers()...)
	must(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Close(ctx)
	})
	now := time.Now().UTC()
	data, err := json.Marshal(map[string]any{"provider": "coinbar", "payment_id": "nf", "since": now.Add(-time.Minute), "deadline": now.Add(time.Hour)})
	must(t, err)
	// The next schedule the instance stored before it died.
	_, err = e.js.PublishMsg(ctx, newMsg("paybridge.watch.at.coinbar.nf", data,
		"Nats-Schedule", "@every 1m", "Nats-Schedule-Target", "paybridge.watch.coinbar.nf",
		"Nats-Expected-Last-Subject-Sequence", "0", "Paybridge-Watch-Due", now.Add(time.Minute).Format(time.RFC3339Nano),
		"Paybridge-Watch-Rechecks", "1", "Paybridge-Watch-Every", "1m"))
	must(t, err)
	// The one-shot due message it had.
	_, err = e.js.PublishMsg(ctx, newMsg("paybridge.watch.coinbar.nf", data,
		"Paybridge-Watch-Due", now.Add(-time.Second).Format(time.RFC3339Nano), "Paybridge-Watch-Rechecks", "0"))
	must(t, err)
	cons, err := e.js.Consumer(ctx, "PAYMENT_WATCHES", "paybridge-watches-coinbar")
	must(t, err)
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	must(t, err)
	taken := 0
	for m := range batch.Messages() {
		taken++
		must(t, m.Nak())
	}
	if taken != 1 {
		t.Fatalf("took %d due messages, want the one", taken)
	}
	must(t, b.Start())
	if ev := e.watchExpired(); ev.Data.Reason != "payment_not_found" {
		t.Fatalf("watch-expired reason %q", ev.Data.Reason)
	}
	if m := e.scheduleOf("coinbar.nf"); m != nil {
		t.Fatalf("the watch ended, and its schedule stays: %s", m.Header.Get("Nats-Schedule"))
	}
}

// A repeating schedule whose orders have become invalid (stored under a
// longer --watch-deadline than the bridge now has) is removed by the first
// of them, instead of firing an invalid order every step.
func TestAnInvalidRepeatingOrderRemovesItsSchedule(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	cfg := bridge.Config{CheckTimeout: 5 * time.Second, WatchSchedule: []time.Duration{time.Second, 10 * time.Second}, WatchDeadline: time.Hour}
	first := e.startBridge(cfg)
	e.addCoinbar("shortened", "PENDING", "")
	e.watchCheck("coinbar", "shortened")
	e.waitForSchedule("coinbar.shortened", "@every 10s")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(t, first.Close(ctx))
	cfg.WatchDeadline, cfg.Registerer = time.Minute, reg
	e.startBridge(cfg)
	testkit.WaitFor(t, 20*time.Second, "the invalid order terminated and its schedule gone", func() bool {
		return metricValue(t, reg, "paybridge_watches_ended_total", "outcome", "invalid") == 1 && e.watches() == 0
	})
}

// Permanent answers that the next firing of a repeating schedule cuts
// short, two of three, do not end the watch: it goes on at that firing.
// (A step of 13 s repeats with calls of 3 s: three first steps and a call
// fit in it.)
func TestRefusalsCutByTheNextFiringDoNotEndAWatch(t *testing.T) {
	e := newEnv(t)
	e.startBridge(bridge.Config{CheckTimeout: 3 * time.Second, WatchSchedule: []time.Duration{3 * time.Second, 13 * time.Second}})
	must(t, e.coinbar.Add(fake.Payment{ID: "slow-404", Amount: "1", Currency: "EUR", Steps: []fake.Step{{Status: "PENDING"}}}))
	e.watchCheck("coinbar", "slow-404")
	e.waitForSchedule("coinbar.slow-404", "@every 13s")
	// At the first firing F: a refusal at F+2.75 s, the second at about
	// F+8.5 s, and the wait of 3 s before a third is cut at F+10 s, a
	// call's 3 s before the next firing.
	must(t, e.coinbar.Fault("slow-404", fake.Fault{Times: 2, Status: http.StatusNotFound, Delay: 2750 * time.Millisecond}))
	expired := func() bool {
		for _, ev := range e.events() {
			if ev.Type == events.TypeWatchExpired {
				return true
			}
		}
		return false
	}
	testkit.WaitFor(t, 40*time.Second, "the next firing's call, or an expiry", func() bool {
		return e.coinbar.Calls("slow-404") >= 5 || expired()
	})
	if expired() {
		t.Fatal("the watch expired after two refusals")
	}
	if m := e.scheduleOf("coinbar.slow-404"); m == nil {
		t.Fatal("the watch's schedule is gone")
	}
}

func TestWatchDeadlinePublishesWatchExpired(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	e.startBridge(bridge.Config{Registerer: reg, WatchSchedule: []time.Duration{100 * time.Millisecond}, WatchDeadline: time.Second})
	e.addMuvinai("pr_slow", "pending", "underpaid", "5")
	e.watchCheck("muvinai", "pr_slow")
	ev := e.watchExpired()
	if ev.Subject != "pr_slow" || ev.Data.Status != paybridge.StatusUnderpaid || ev.Data.AmountPaid != "5" {
		t.Fatalf("watch-expired event: %+v", ev)
	}
	// Its time is the watch's deadline, after the status it carries.
	if !ev.Time.After(ev.Data.ObservedAt) || ev.Time.Sub(ev.Data.ObservedAt) > 2*time.Second {
		t.Fatalf("expired at %s, status observed at %s", ev.Time, ev.Data.ObservedAt)
	}
	calls := e.muvinai.Calls("pr_slow")
	if calls < 3 {
		t.Fatalf("only %d provider calls before the deadline", calls)
	}
	// It stopped: a later check finds no watch.
	if r := e.mustCheck("muvinai", "pr_slow"); r.Watching {
		t.Fatalf("after expiry: %+v", r)
	}
	if v := metricValue(t, reg, "paybridge_watches_ended_total", "outcome", "expired"); v != 1 {
		t.Fatalf("watches ended (expired) = %v", v)
	}
}

// webhookServer serves the bridge's webhook handler over real HTTP.
func webhookServer(t *testing.T, b *bridge.Bridge) string {
	srv := httptest.NewServer(b.Webhooks())
	t.Cleanup(srv.Close)
	return srv.URL
}

func post(t *testing.T, url string, header http.Header, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	must(t, err)
	req.Header.Set("Content-Type", "application/json") // unless header says otherwise
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.String()
}

// A replayed webhook for a payment whose check leaves no record (the
// provider does not know it) waits out the quiet period after the check
// before it, as one for a stored payment does: replays cost no call each.
func TestReplayedWebhooksOfAnUnknownPaymentWaitTheirQuietPeriod(t *testing.T) {
	e := newEnv(t)
	b := e.startBridge(fastWatches(bridge.Config{}))
	url := webhookServer(t, b) + "/webhooks/muvinai?token=" + muvinaiWebhookToken
	const body = `{"entity_type":"payment_request","entity_id":"ghost"}`
	triggerDone := func() bool {
		s, err := e.js.Stream(t.Context(), "PAYMENT_WATCHES")
		must(t, err)
		_, err = s.GetLastMsgForSubject(t.Context(), "paybridge.watch.muvinai.ghost.trigger")
		return errors.Is(err, jetstream.ErrMsgNotFound)
	}
	for replay := 1; replay <= 2; replay++ {
		if code, resp := post(t, url, nil, body); code != http.StatusOK {
			t.Fatalf("replay %d: %d %s", replay, code, resp)
		}
		testkit.WaitFor(t, 20*time.Second, "the trigger's three calls", func() bool {
			return len(e.calls.of("muvinai")) >= 3*replay && triggerDone()
		})
	}
	calls := e.calls.of("muvinai")
	if len(calls) != 6 {
		t.Fatalf("%d provider calls for two triggers, want three each (permanent answers)", len(calls))
	}
	if gap := calls[3].Sub(calls[2]); gap < 4*time.Second {
		t.Fatalf("the replay's check came %s after the last call of the check before it, within the quiet period of 5 s", gap)
	}
}

func TestWebhooksTriggerACheckAndForgedOnesDoNot(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	b := e.startBridge(fastWatches(bridge.Config{Registerer: reg}))
	url := webhookServer(t, b)
	e.addMuvinai("pr_hook", "approved", "correct", "15000.50")
	e.addCoinbar("cb-hook", "SUCCESS", "")

	// Forged: wrong token, no token, wrong client id, no header.
	for _, tc := range []struct {
		path   string
		header http.Header
	}{
		{"/webhooks/muvinai?token=guess", nil},
		{"/webhooks/muvinai", nil},
		{"/webhooks/coinbar", http.Header{"Service_client_id": {"someone-else"}}},
		{"/webhooks/coinbar", nil},
	} {
		body := `{"id":"n1","event_type":"new_payment","entity_type":"payment_request","entity_id":"pr_hook","data":{"payment_request":{"id":"pr_hook"}}}`
		if strings.Contains(tc.path, "coinbar") {
			body = `{"payment_request_id_client":"cb-hook","status":"SUCCESS"}`
		}
		if code, resp := post(t, url+tc.path, tc.header, body); code != http.StatusUnauthorized {
			t.Fatalf("%s: %d %s", tc.path, code, resp)
		}
	}
	if e.muvinai.Calls("pr_hook") != 0 || e.coinbar.Calls("cb-hook") != 0 || e.watches() != 0 {
		t.Fatal("a forged webhook reached the provider or stored a trigger")
	}

	code, resp := post(t, url+"/webhooks/muvinai?token=hook-token", nil,
		`{"id":"n1","event_type":"new_payment","entity_type":"payment_request","entity_id":"pr_hook","data":{"payment_request":{"id":"pr_hook","status":"approved"}}}`)
	if code != http.StatusOK {
		t.Fatalf("muvinai webhook: %d %s", code, resp)
	}
	code, resp = post(t, url+"/webhooks/coinbar", http.Header{"SERVICE_CLIENT_ID": {coinbarClientID}},
		`{"payment_id_coinbar":"x","payment_request_id_client":"cb-hook","status":"SUCCESS"}`)
	if code != http.StatusOK {
		t.Fatalf("coinbar webhook: %d %s", code, resp)
	}
	testkit.WaitFor(t, 10*time.Second, "both events", func() bool {
		return len(e.eventsFor("pr_hook")) == 1 && len(e.eventsFor("cb-hook")) == 1 && e.watches() == 0
	})
	if e.eventsFor("pr_hook")[0].Data.Status != paybridge.StatusPaid || e.eventsFor("cb-hook")[0].Data.Status != paybridge.StatusPaid {
		t.Fatal("webhook events carry the wrong status")
	}
	if e.muvinai.Calls("pr_hook") != 1 || e.coinbar.Calls("cb-hook") != 1 {
		t.Fatalf("provider calls: %d, %d", e.muvinai.Calls("pr_hook"), e.coinbar.Calls("cb-hook"))
	}
	for _, m := range []struct {
		provider, outcome string
		want              float64
	}{{"muvinai", "unauthorized", 2}, {"coinbar", "unauthorized", 2}, {"muvinai", "stored", 1}, {"coinbar", "stored", 1}} {
		if v := metricValue(t, reg, "paybridge_webhooks_total", "provider", m.provider, "outcome", m.outcome); v != m.want {
			t.Errorf("webhooks %s/%s = %v, want %v", m.provider, m.outcome, v, m.want)
		}
	}
}

// A webhook for a provider this bridge does not serve is answered 503 with
// a JSON reason, as the contract's table says: nothing here can check its
// credential, and the provider retries.
func TestWebhookOfAProviderNotEnabledIsUnavailable(t *testing.T) {
	e := newEnv(t)
	b := e.startBridge(bridge.Config{}, e.providers()[0]) // CoinbarPay only
	code, resp := post(t, webhookServer(t, b)+"/webhooks/muvinai?token="+muvinaiWebhookToken, nil,
		`{"entity_type":"payment_request","entity_id":"pr_1"}`)
	var body struct{ Error string }
	if code != http.StatusServiceUnavailable || json.Unmarshal([]byte(resp), &body) != nil || !strings.Contains(body.Error, `"muvinai" is not enabled`) {
		t.Fatalf("%d %s", code, resp)
	}
}

func TestWebhookBodyProblemsAreBadRequests(t *testing.T) {
	e := newEnv(t)
	b := e.startBridge(bridge.Config{})
	url := webhookServer(t, b)
	mv := url + "/webhooks/muvinai?token=hook-token"
	cb := url + "/webhooks/coinbar"
	auth := http.Header{"SERVICE_CLIENT_ID": {coinbarClientID}}
	for name, tc := range map[string]struct {
		url    string
		header http.Header
		body   string
		want   string
	}{
		"not JSON":          {mv, nil, `hello`, "not JSON"},
		"over 1 MiB":        {mv, nil, `{"entity_id":"` + strings.Repeat("x", 1<<20) + `"}`, "larger than"},
		"no id":             {mv, nil, `{"event_type":"new_payment"}`, "no payment id"},
		"other entity":      {mv, nil, `{"entity_type":"merchant","entity_id":"m1"}`, "entity_type"},
		"wrong id type":     {mv, nil, `{"entity_id":42}`, "not a Muvinai notification"},
		"control character": {mv, nil, `{"entity_id":"a\u0000b"}`, "control character"},
		"lone surrogate":    {mv, nil, `{"entity_id":"a\ud800b"}`, "lone UTF-16 surrogate"},
		"not UTF-8":         {mv, nil, "{\"entity_id\":\"a\xffb\"}", "not UTF-8"},
		"coinbar surrogate": {cb, auth, `{"payment_request_id_client":"a\udc00"}`, "lone UTF-16 surrogate"},
		"coinbar no id":     {cb, auth, `{"status":"SUCCESS"}`, "payment_request_id_client"},
		"coinbar encrypted": {cb, auth, `{"responseToken":"b64=="}`, "responseToken"},
		"coinbar array":     {cb, auth, `[1]`, "JSON object"},
	} {
		code, resp := post(t, tc.url, tc.header, tc.body)
		if code != http.StatusBadRequest || !strings.Contains(resp, tc.want) {
			t.Errorf("%s: %d %s", name, code, resp)
		}
	}
	if e.watches() != 0 {
		t.Fatal("a bad webhook stored a trigger")
	}
}

// With a budget of 5 calls a second, 200 watches due at once are checked
// at about that pace: never more than 5 calls in any one-second window.
func TestProviderBudgetPacesWatches(t *testing.T) {
	e := newEnv(t)
	b := e.startBridge(bridge.Config{
		Limits: map[string]bridge.Rate{"coinbar": {N: 5, Per: time.Second}},
	})
	url := webhookServer(t, b)
	const n = 200
	for i := range n {
		id := fmt.Sprintf("budget-%03d", i)
		e.addCoinbar(id, "PENDING", "")
		code, resp := post(t, url+"/webhooks/coinbar", http.Header{"SERVICE_CLIENT_ID": {coinbarClientID}},
			`{"payment_request_id_client":"`+id+`"}`)
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", id, code, resp)
		}
	}
	testkit.WaitFor(t, 20*time.Second, "three seconds of calls", func() bool { return len(e.calls.of("coinbar")) >= 14 })
	times := e.calls.of("coinbar")
	for i := range times {
		inWindow := 0
		for j := i; j < len(times) && times[j].Sub(times[i]) < time.Second; j++ {
			inWindow++
		}
		if inWindow > 5 {
			t.Fatalf("%d calls within one second starting at call %d", inWindow, i)
		}
	}
	// The watches are still there, waiting for budget, not failed.
	if e.watches() < n-len(times) {
		t.Fatalf("%d triggers left for %d payments after %d calls", e.watches(), n, len(times))
	}
}

// A webhook trigger whose checks keep failing is retried on the schedule,
// and dropped at its deadline: never retried in a tight loop.
func TestFailingTriggerEndsAtItsDeadline(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	b := e.startBridge(bridge.Config{Registerer: reg, WatchSchedule: []time.Duration{100 * time.Millisecond}, WatchDeadline: 400 * time.Millisecond},
		e.providers(providers.WithRetries(0))...)
	url := webhookServer(t, b)
	// The provider is down: every check fails, and may succeed later.
	e.addCoinbar("down", "PENDING", "")
	must(t, e.coinbar.Fault("down", fake.Fault{Times: 1000, Status: http.StatusServiceUnavailable}))
	code, resp := post(t, url+"/webhooks/coinbar", http.Header{"SERVICE_CLIENT_ID": {coinbarClientID}},
		`{"payment_request_id_client":"down"}`)
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, resp)
	}
	testkit.WaitFor(t, 10*time.Second, "the trigger to be dropped at its deadline", func() bool {
		return e.watches() == 0 && metricValue(t, reg, "paybridge_watches_ended_total", "outcome", "expired") == 1
	})
	// One call per schedule step until the deadline, give or take one.
	if calls := e.coinbar.Calls("down"); calls < 1 || calls > 6 {
		t.Fatalf("%d provider calls in 400ms with a 100ms schedule", calls)
	}
}

// A webhook for a payment that is not settled yet keeps it watched until
// it is.
func TestWebhookKeepsWatchingUntilSettled(t *testing.T) {
	e := newEnv(t)
	b := e.startBridge(fastWatches(bridge.Config{}))
	url := webhookServer(t, b)
	must(t, e.muvinai.Add(fake.Payment{ID: "pr_slowhook", Amount: "10", Currency: "ARS", Steps: []fake.Step{
		{Status: "pending", Detail: "not_paid", Calls: 2}, {Status: "approved", Detail: "correct", AmountPaid: "10"},
	}}))
	code, resp := post(t, url+"/webhooks/muvinai?token=hook-token", nil, `{"entity_type":"payment_request","entity_id":"pr_slowhook"}`)
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, resp)
	}
	testkit.WaitFor(t, 10*time.Second, "paid after polls", func() bool {
		evs := e.eventsFor("pr_slowhook")
		return len(evs) == 2 && evs[1].Data.Status == paybridge.StatusPaid && e.watches() == 0
	})
	if calls := e.muvinai.Calls("pr_slowhook"); calls != 3 {
		t.Fatalf("%d provider calls, want 3 (trigger, pending poll, paid poll)", calls)
	}
}

// A webhook whose payment cannot be watched (its provider is at
// --max-watches; the trigger itself counts) is checked once and dropped:
// asked again, it would cost a provider call on every delivery until its
// deadline.
func TestWebhookAtTheWatchLimitIsCheckedOnce(t *testing.T) {
	e := newEnv(t)
	b := e.startBridge(fastWatches(bridge.Config{MaxWatches: 1}))
	e.addMuvinai("pr_full", "pending", "not_paid", "0")
	code, resp := post(t, webhookServer(t, b)+"/webhooks/muvinai?token="+muvinaiWebhookToken, nil,
		`{"entity_type":"payment_request","entity_id":"pr_full"}`)
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, resp)
	}
	testkit.WaitFor(t, 10*time.Second, "the trigger to be done with", func() bool {
		return len(e.eventsFor("pr_full")) == 1 && e.watches() == 0
	})
	if calls := e.muvinai.Calls("pr_full"); calls != 1 {
		t.Fatalf("%d provider calls, want 1", calls)
	}
}

// Asking again to watch a payment already watched stores nothing, and
// takes no room under --max-watches: a service that repeats watch: true
// (or a provider replaying a webhook) must not crowd out new watches.
func TestWatchingAWatchedPaymentAgainTakesNoRoom(t *testing.T) {
	e := newEnv(t)
	e.startBridge(bridge.Config{MaxWatches: 2})
	for _, id := range []string{"a", "b"} {
		e.addCoinbar(id, "PENDING", "")
	}
	for range 3 {
		e.watchCheck("coinbar", "a")
	}
	if r := e.check(map[string]any{"provider": "coinbar", "payment_id": "b", "watch": true}); r.OK == nil || !r.OK.Watching {
		t.Fatalf("a second payment, with one watch stored of 2: %s (the stream holds %d)", r.Raw, e.watches())
	}
}

// A watch ended early by the provider's permanent answers is taken out of
// the status record before its watch-expired event is published: no reply
// after the event says the payment is watched (a watch that reaches its
// deadline needs nothing: watch_until is then past).
func TestAWatchEndedByPermanentAnswersIsNoLongerReported(t *testing.T) {
	e := newEnv(t)
	e.startBridge(fastWatches(bridge.Config{}))
	e.addCoinbar("deleted", "PENDING", "")
	if !e.watchCheck("coinbar", "deleted").Watching {
		t.Fatal("not watched")
	}
	expired, err := e.nc.SubscribeSync("payments.watch.expired")
	must(t, err)
	must(t, e.coinbar.Fault("deleted", fake.Fault{Times: 1000, Status: http.StatusNotFound}))
	if _, err := expired.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("no watch-expired event: %v", err)
	}
	body, err := json.Marshal(map[string]any{"provider": "coinbar", "payment_id": "deleted"})
	must(t, err)
	if r := e.request("payments.status.get", body); r.OK == nil || r.OK.Watching {
		rec, _ := e.stored("coinbar", "deleted")
		t.Fatalf("lookup after the watch ended: %s (watch_until %v)", r.Raw, rec.WatchUntil)
	}
}

// A check with watch: true whose provider call fails and whose watch
// cannot be stored (the provider is at --max-watches) answers overloaded,
// not the provider's error, which would say the watch was stored.
func TestAFailedCheckWhoseWatchIsNotStoredSaysSo(t *testing.T) {
	e := newEnv(t)
	e.startBridge(bridge.Config{MaxWatches: 1})
	e.addCoinbar("a", "PENDING", "")
	e.addCoinbar("b", "PENDING", "")
	e.watchCheck("coinbar", "a")
	must(t, e.coinbar.Fault("b", fake.Fault{Times: 10, Status: http.StatusServiceUnavailable}))
	r := e.check(map[string]any{"provider": "coinbar", "payment_id": "b", "watch": true})
	if r.Err == nil || r.Err.Error.Code != paybridge.CodeOverloaded {
		t.Fatalf("reply %s; the stream holds %d watches", r.Raw, e.watches())
	}
	// An answer that asking again will not change stays the reply: a
	// retryable overloaded would have the caller (or the intake) ask again.
	r = e.check(map[string]any{"provider": "coinbar", "payment_id": "nobody", "watch": true})
	if r.Err == nil || r.Err.Error.Code != paybridge.CodePaymentNotFound {
		t.Fatalf("a payment the provider does not know: %s", r.Raw)
	}
}

// A check with watch: true whose provider call fails still leaves a
// watch, which keeps trying on the schedule (docs/contract.md, "Watches").
func TestWatchSurvivesAFailedFirstCheck(t *testing.T) {
	e := newEnv(t)
	e.startBridge(fastWatches(bridge.Config{}))
	e.addCoinbar("flaky", "SUCCESS", "")
	must(t, e.coinbar.Fault("flaky", fake.Fault{Times: 4, Status: 503}))
	r := e.check(map[string]any{"provider": "coinbar", "payment_id": "flaky", "watch": true})
	if r.Err == nil || r.Err.Error.Code != paybridge.CodeProviderUnavailable {
		t.Fatalf("first check: %s", r.Raw)
	}
	testkit.WaitFor(t, 10*time.Second, "the watch to find it paid", func() bool {
		evs := e.eventsFor("flaky")
		return len(evs) == 1 && evs[0].Data.Status == paybridge.StatusPaid && e.watches() == 0
	})
}

// A check that meets a watch waiting for budget is not held by the watch's
// patience: it answers provider_rate_limited after its own 2 seconds.
func TestCheckDoesNotWaitOnAWatchesBudget(t *testing.T) {
	e := newEnv(t)
	b := e.startBridge(bridge.Config{Limits: map[string]bridge.Rate{"coinbar": {N: 1, Per: time.Hour}}})
	url := webhookServer(t, b)
	e.addCoinbar("scarce", "PENDING", "")
	e.mustCheck("coinbar", "scarce") // spends the budget
	code, _ := post(t, url+"/webhooks/coinbar", http.Header{"SERVICE_CLIENT_ID": {coinbarClientID}},
		`{"payment_request_id_client":"scarce"}`)
	if code != http.StatusOK {
		t.Fatalf("webhook: %d", code)
	}
	start := time.Now()
	r := e.check(map[string]any{"provider": "coinbar", "payment_id": "scarce"})
	if r.Err == nil || r.Err.Error.Code != paybridge.CodeProviderRateLimited || !r.Err.Error.Retryable {
		t.Fatalf("check: %s", r.Raw)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Fatalf("the check waited %s for budget", took)
	}
	if e.coinbar.Calls("scarce") != 1 {
		t.Fatal("the budget was exceeded")
	}
}

// A watch begun by a check that failed is noted in the record by its first
// good poll, so every later reply says the payment is watched.
func TestWatchAfterAFailedCheckIsReportedOnceItPolls(t *testing.T) {
	e := newEnv(t)
	e.startBridge(fastWatches(bridge.Config{}))
	e.addCoinbar("late", "PENDING", "")
	must(t, e.coinbar.Fault("late", fake.Fault{Times: 4, Status: 503}))
	if r := e.check(map[string]any{"provider": "coinbar", "payment_id": "late", "watch": true}); r.Err == nil {
		t.Fatalf("first check: %s", r.Raw)
	}
	testkit.WaitFor(t, 10*time.Second, "a good poll", func() bool { return len(e.eventsFor("late")) == 1 })
	testkit.WaitFor(t, 10*time.Second, "the watch noted in the record", func() bool {
		rec, ok := e.stored("coinbar", "late")
		return ok && rec.WatchUntil != nil
	})
	if r := e.mustCheck("coinbar", "late"); !r.Watching {
		t.Fatalf("reply: %+v", r)
	}
}

// Close waits for the background work only until its deadline: a watch's
// provider call still running then is left to end on its own, and Close
// says so.
func TestCloseGivesUpOnBackgroundWorkAtItsDeadline(t *testing.T) {
	e := newEnv(t)
	b := e.startBridge(bridge.Config{WatchSchedule: []time.Duration{100 * time.Millisecond}})
	e.addCoinbar("w-slow", "PENDING", "")
	e.watchCheck("coinbar", "w-slow")
	must(t, e.coinbar.Fault("w-slow", fake.Fault{Times: 1, Delay: 2 * time.Second}))
	testkit.WaitFor(t, 10*time.Second, "the watch's poll to reach the slow provider", func() bool { return e.coinbar.Calls("w-slow") >= 2 })

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := b.Close(ctx); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "background work still running") {
		t.Fatalf("Close with the provider call still running: %v", err)
	}
}
