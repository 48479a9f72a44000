package bridge_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/natsembed"
	"github.com/paybridge/paybridge/providers/fake"
)

// A core subscription sees every publish, including the repeats the stream
// drops as duplicates. Two instances that both process every check of
// payments moving to paid must still put each change on the subject once:
// a check that finds a change claimed by the other instance leaves its
// publish to that claimer.
func TestCoreSubscriberSeesEachChangeOnce(t *testing.T) {
	e := newEnv(t)
	// Room for every check at once, 900 of one provider, and for those
	// the slower instance still has from the round before.
	e.startBridge(bridge.Config{QueueGroup: "a", MaxInflight: 8192})
	e.startBridge(bridge.Config{QueueGroup: "b", MaxInflight: 8192})
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
		if ev.Data.Status != paybridge.StatusPending && ev.Data.Status != paybridge.StatusPaid {
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

// A provider that hangs takes at most the shared slots and its own
// reserve: fire-and-forget checks beyond them wait in its bounded queue
// and are dropped (and counted) past it, the intake never blocks, lookups
// never wait on check slots, and the other provider's checks are answered
// at once from its reserve.
func TestOneHangingProviderStarvesNothingElse(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	// 8 shared slots, a reserve of 1 and a queue of 4 for each provider.
	e.startBridge(bridge.Config{MaxInflight: 8, Registerer: reg})
	e.addCoinbar("cb-ok", "PENDING", "")
	e.mustCheck("coinbar", "cb-ok")
	const sent, inFlight, queued = 30, 8 + 1, 4
	for i := range sent {
		id := fmt.Sprintf("mv-hang-%d", i)
		e.addMuvinai(id, "pending", "not_paid", "0")
		must(t, e.muvinai.Fault(id, fake.Fault{Times: 1, Delay: 1500 * time.Millisecond}))
		must(t, e.nc.Publish("payments.check", []byte(`{"provider":"muvinai","payment_id":"`+id+`"}`)))
	}
	must(t, e.nc.Flush())
	testkit.WaitFor(t, 5*time.Second, "every shared slot and muvinai's reserve in flight", func() bool {
		return len(e.muvinai.Requests()) == inFlight
	})
	testkit.WaitFor(t, 5*time.Second, "the checks past the queue dropped", func() bool {
		return metricValue(t, reg, "paybridge_checks_dropped_total", "provider", "muvinai") == sent-inFlight-queued
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
	if r := e.decodeReply(msg); r.Err == nil || r.Err.Error.Code != paybridge.CodeOverloaded {
		t.Fatalf("muvinai check past its slots: %s", r.Raw)
	}
	// The queued checks run once slots free up.
	testkit.WaitFor(t, 10*time.Second, "the queued checks run", func() bool { return len(e.muvinai.Requests()) == inFlight+queued })
	testkit.WaitFor(t, 10*time.Second, "the queued checks stored", func() bool { return len(e.events()) == 1+inFlight+queued })
}

// With one provider busy, it may use every shared slot: checks with a
// caller waiting are never refused while fewer than --max-inflight are in
// flight (an even split refused half of them).
func TestOneBusyProviderUsesEverySharedSlot(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	const maxInflight = 64
	e.startBridge(bridge.Config{MaxInflight: maxInflight, Registerer: reg})
	for i := range maxInflight {
		id := fmt.Sprintf("busy-%02d", i)
		e.addMuvinai(id, "pending", "not_paid", "0")
		must(t, e.muvinai.Fault(id, fake.Fault{Times: 1, Delay: 2 * time.Second}))
	}
	replies := make(chan reply, maxInflight)
	for i := range maxInflight {
		go func() {
			replies <- e.check(map[string]any{"provider": "muvinai", "payment_id": fmt.Sprintf("busy-%02d", i)})
		}()
	}
	testkit.WaitFor(t, 10*time.Second, "every check in flight", func() bool { return len(e.muvinai.Requests()) == maxInflight })
	for range maxInflight {
		if r := <-replies; r.OK == nil {
			t.Fatalf("a check of the busy provider: %s", r.Raw)
		}
	}
	if n := metricValue(t, reg, "paybridge_requests_total", "outcome", "overloaded"); !math.IsNaN(n) {
		t.Fatalf("%v checks overloaded", n)
	}
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
	if r.Err == nil || r.Err.Error.Code != paybridge.CodeInternal || !strings.Contains(r.Err.Error.Message, "more than the NATS server accepts") {
		t.Fatalf("reply: %s", r.Raw)
	}
	if r.Err.PaymentID != id {
		t.Fatalf("the error reply does not echo the payment: %s", r.Raw)
	}
}

// Watch orders are read as strictly as check requests: a stray or hostile
// message on a watch subject is terminated with a warning, never acted on
// (a 3,000-byte id made the KV read close the connection for good, and
// the durable order did it again to every restarted instance).
func TestInvalidWatchOrdersAreTerminated(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	e.startBridge(bridge.Config{Registerer: reg})
	now := time.Now().UTC()
	order := func(provider, id string, deadline time.Time) []byte {
		b, err := json.Marshal(map[string]any{"provider": provider, "payment_id": id, "since": now, "deadline": deadline})
		must(t, err)
		return b
	}
	long := strings.Repeat("x", 3000)
	day := now.Add(time.Hour)
	bad := []struct {
		subject string
		data    []byte
	}{
		{"paybridge.watch.muvinai.x", order("muvinai", long, day)},
		// On their own subjects: only the id's own check refuses these.
		{"paybridge.watch." + bridge.Key("muvinai", "a\r\nb"), order("muvinai", "a\r\nb", day)},
		{"paybridge.watch." + bridge.Key("muvinai", ".."), order("muvinai", "..", day)},
		{"paybridge.watch.muvinai.elsewhere", order("muvinai", "somebody-else", day)},
		{"paybridge.watch.muvinai.far", order("muvinai", "far", now.Add(48*time.Hour))},
		{"paybridge.watch.muvinai.gone", order("coinbar-not-here", "gone", day)},
		{"paybridge.watch.muvinai.junk", []byte(`not json`)},
		{"paybridge.watch.muvinai.more", append(order("muvinai", "more", day), '}')},
		{"paybridge.watch.muvinai.more2", append(order("muvinai", "more2", day), " garbage"...)},
		{"paybridge.watch.muvinai.extra", []byte(`{"provider":"muvinai","payment_id":"extra","since":"2026-01-01T00:00:00Z","deadline":"2026-01-01T01:00:00Z","evil":1}`)},
		// Valid to encoding/json, but never written by the bridge.
		{"paybridge.watch.muvinai.twice", []byte(`{"provider":"muvinai","payment_id":"twice","payment_id":"twice","since":"2026-01-01T00:00:00Z","deadline":"2026-01-01T01:00:00Z"}`)},
		{"paybridge.watch.muvinai.null", []byte(`{"provider":"muvinai","account":null,"payment_id":"null","since":"2026-01-01T00:00:00Z","deadline":"2026-01-01T01:00:00Z"}`)},
		{"paybridge.watch.muvinai.case", []byte(`{"Provider":"muvinai","payment_id":"case","since":"2026-01-01T00:00:00Z","deadline":"2026-01-01T01:00:00Z"}`)},
	}
	for _, m := range bad {
		_, err := e.js.Publish(t.Context(), m.subject, m.data)
		must(t, err)
	}
	// A due watch's schedule headers are read as strictly as its body.
	badSchedules := [][]string{
		{"Paybridge-Watch-Due", "soon", "Paybridge-Watch-Rechecks", "1"},
		{"Paybridge-Watch-Due", now.Add(time.Minute).Format(time.RFC3339Nano), "Paybridge-Watch-Rechecks", "-1"},
		{"Paybridge-Watch-Due", now.Add(-time.Hour).Format(time.RFC3339Nano), "Paybridge-Watch-Rechecks", "1"}, // before since
		{"Paybridge-Watch-Due", now.Add(time.Minute).Format(time.RFC3339Nano), "Paybridge-Watch-Rechecks", "1", "Paybridge-Watch-Every", "often"},
		{"Paybridge-Watch-Due", now.Add(time.Minute).Format(time.RFC3339Nano), "Paybridge-Watch-Rechecks", "1", "Paybridge-Watch-Every", "1s"}, // under 10 s
		{"Paybridge-Watch-Due", now.Add(time.Minute).Format(time.RFC3339Nano), "Paybridge-Watch-Rechecks", "1", "Paybridge-Watch-Every", "2h"}, // past the deadline
		{"Paybridge-Watch-Every", "1m"}, // a step without a due time
	}
	for i, h := range badSchedules {
		id := fmt.Sprintf("sched-%d", i)
		_, err := e.js.PublishMsg(t.Context(), newMsg("paybridge.watch."+bridge.Key("muvinai", id), order("muvinai", id, day), h...))
		must(t, err)
	}
	testkit.WaitFor(t, 10*time.Second, "every bad order terminated", func() bool {
		return e.watches() == 0 && metricValue(t, reg, "paybridge_watches_ended_total", "outcome", "invalid") == float64(len(bad)+len(badSchedules))
	})
	if len(e.muvinai.Requests()) != 0 {
		t.Fatal("a bad order reached the provider")
	}
	// The bridge is still connected and answering.
	e.addMuvinai("after", "pending", "not_paid", "0")
	if r := e.mustCheck("muvinai", "after"); r.Status != paybridge.StatusPending {
		t.Fatalf("after bad orders: %+v", r)
	}
}

// A watch of a payment the provider says does not exist ends after a few
// such answers in a row, with a watch-expired event that says why, instead
// of polling it on schedule for a day.
func TestWatchOfAnUnknownPaymentEnds(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	e.startBridge(fastWatches(bridge.Config{Registerer: reg}))
	r := e.check(map[string]any{"provider": "coinbar", "payment_id": "nobody", "watch": true})
	if r.Err == nil || r.Err.Error.Code != paybridge.CodePaymentNotFound {
		t.Fatalf("first check: %s", r.Raw)
	}
	if d := e.watchExpired().Data; d.Reason != "payment_not_found" || d.Status != paybridge.StatusUnknown || d.PaymentID != "nobody" {
		t.Fatalf("watch-expired data: %+v", d)
	}
	// The first check, then three refusals in a row.
	if calls := e.coinbar.Calls("nobody"); calls != 4 {
		t.Fatalf("%d provider calls, want 4", calls)
	}
	if v := metricValue(t, reg, "paybridge_watches_ended_total", "outcome", "payment_not_found"); v != 1 {
		t.Fatalf("watches ended (payment_not_found) = %v", v)
	}
}

// Each provider may hold only so many watches; past that a watch is
// refused with a clear error, while a payment already watched keeps its
// watch. The watch stream itself has a size limit, added to one made
// without, and schedules its watches' checks.
func TestWatchesAreLimited(t *testing.T) {
	e := newEnv(t)
	// A watch stream as an earlier version made it: no limits.
	_, err := e.js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "PAYMENT_WATCHES", Subjects: []string{"paybridge.watch.>"},
		Retention: jetstream.WorkQueuePolicy, MaxMsgsPerSubject: 1, Discard: jetstream.DiscardNew, DiscardNewPerSubject: true})
	must(t, err)
	e.startBridge(bridge.Config{MaxWatches: 3})
	s, err := e.js.Stream(t.Context(), "PAYMENT_WATCHES")
	must(t, err)
	if c := s.CachedInfo().Config; !c.AllowMsgSchedules || c.MaxMsgSize <= 0 {
		t.Fatalf("watch stream: schedules %v, messages of %d bytes", c.AllowMsgSchedules, c.MaxMsgSize)
	}
	for i := range 4 {
		e.addCoinbar(fmt.Sprintf("lim-%d", i), "PENDING", "")
	}
	e.addMuvinai("lim-0", "pending", "not_paid", "0")
	for i := range 3 {
		e.watchCheck("coinbar", fmt.Sprintf("lim-%d", i))
	}
	r := e.check(map[string]any{"provider": "coinbar", "payment_id": "lim-3", "watch": true})
	if r.Err == nil {
		t.Fatalf("fourth watch: %s", r.Raw)
	}
	if r.Err.Error.Code != paybridge.CodeOverloaded || !strings.Contains(r.Err.Error.Message, "watches") {
		t.Fatalf("fourth watch: %s", r.Raw)
	}
	if got := e.watchCheck("coinbar", "lim-0"); !got.Watching {
		t.Fatalf("a watched payment asked again: %+v", got)
	}
	// The other provider has its own limit.
	if got := e.watchCheck("muvinai", "lim-0"); !got.Watching {
		t.Fatalf("muvinai watch: %+v", got)
	}
}

// Watch requests arriving together each take their room: no more than
// --max-watches of them are accepted.
func TestConcurrentWatchesKeepToTheLimit(t *testing.T) {
	e := newEnv(t)
	e.startBridge(bridge.Config{MaxWatches: 3})
	const n = 12
	for i := range n {
		e.addCoinbar(fmt.Sprintf("together-%d", i), "PENDING", "")
	}
	var wg sync.WaitGroup
	var watching, refused atomic.Int32
	for i := range n {
		wg.Go(func() {
			r := e.check(map[string]any{"provider": "coinbar", "payment_id": fmt.Sprintf("together-%d", i), "watch": true})
			switch {
			case r.OK != nil && r.OK.Watching:
				watching.Add(1)
			case r.Err != nil && r.Err.Error.Code == paybridge.CodeOverloaded:
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	if watching.Load() != 3 || refused.Load() != n-3 {
		t.Fatalf("%d watches accepted and %d refused of %d, want 3 accepted", watching.Load(), refused.Load(), n)
	}
	if got := e.watches(); got != 3 {
		t.Fatalf("%d watches stored, want 3", got)
	}
}

// A webhook body must say it is JSON and be one JSON value, nothing after.
func TestWebhooksRefuseOtherContentTypesAndTrailingBytes(t *testing.T) {
	e := newEnv(t)
	b := e.startBridge(bridge.Config{})
	url := webhookServer(t, b) + "/webhooks/muvinai?token=hook-token"
	body := `{"entity_type":"payment_request","entity_id":"pr_1"}`
	for name, tc := range map[string]struct {
		contentType, body string
		code              int
		want              string
	}{
		"form":          {"application/x-www-form-urlencoded", body, http.StatusUnsupportedMediaType, "JSON"},
		"text":          {"text/plain", body, http.StatusUnsupportedMediaType, "JSON"},
		"none":          {"", body, http.StatusUnsupportedMediaType, "JSON"},
		"trailing JSON": {"application/json", body + `{"entity_id":"pr_2"}`, http.StatusBadRequest, "after the JSON"},
		"trailing junk": {"application/json", body + ` x`, http.StatusBadRequest, "after the JSON"},
	} {
		code, resp := post(t, url, http.Header{"Content-Type": {tc.contentType}}, tc.body)
		if code != tc.code || !strings.Contains(resp, tc.want) {
			t.Errorf("%s: %d %s", name, code, resp)
		}
	}
	if e.watches() != 0 {
		t.Fatal("a refused webhook stored a trigger")
	}
	// JSON with a charset, and trailing white space, are fine.
	if code, resp := post(t, url, http.Header{"Content-Type": {"application/json; charset=utf-8"}}, body+"\n"); code != http.StatusOK {
		t.Fatalf("%d %s", code, resp)
	}
}
