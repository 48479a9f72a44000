package bridge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/fake"
)

// The bridge answers a request by publishing on its reply subject with its
// own NATS permissions. A request whose reply subject is one the bridge
// owns (its bucket, its event, watch and outbox subjects, its endpoints)
// or any "$" subject is refused unanswered and counted, with one warning
// naming the subject: a client cannot make the bridge overwrite a
// payment's record, store a fake event or a watch order, or call itself.
func TestReplySubjectsTheBridgeOwnsAreRefused(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	var logs testkit.SyncBuffer
	e.startBridge(bridge.Config{Registerer: reg, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	e.addCoinbar("victim", "PENDING", "")
	e.mustCheck("coinbar", "victim")
	before, _ := e.stored("coinbar", "victim")
	eventsBefore := len(e.events())

	replies := []string{
		"$KV.payment_status.coinbar.victim",
		"payments.status.changed",
		"payments.watch.expired",
		"paybridge.watch.coinbar.victim",
		"paybridge.outbox.coinbar.victim.x",
		"payments.check",
		"payments.status.get",
		"$JS.API.STREAM.DELETE.PAYMENT_EVENTS",
		"$SRV.PING",
	}
	// Whatever lands on those subjects other than requests: a reply has a
	// revision or an error.
	var mu sync.Mutex
	var landed []string
	request := []byte(`{"provider":"coinbar","payment_id":"victim"}`)
	for _, subject := range replies {
		sub, err := e.nc.Subscribe(subject, func(m *nats.Msg) {
			if bytes.Contains(m.Data, []byte(`"revision"`)) || bytes.Contains(m.Data, []byte(`"error"`)) {
				mu.Lock()
				landed = append(landed, m.Subject+": "+string(m.Data))
				mu.Unlock()
			}
		})
		must(t, err)
		t.Cleanup(func() { sub.Unsubscribe() })
	}
	for _, reply := range replies {
		for _, subject := range []string{"payments.status.get", "payments.check"} {
			must(t, e.nc.PublishRequest(subject, reply, request))
		}
	}
	must(t, e.nc.Flush())
	testkit.WaitFor(t, 10*time.Second, "every refusal counted", func() bool {
		return metricValue(t, reg, "paybridge_requests_total", "endpoint", "lookup", "outcome", "refused_reply_subject") == float64(len(replies)) &&
			metricValue(t, reg, "paybridge_requests_total", "endpoint", "check", "outcome", "refused_reply_subject") == float64(len(replies))
	})
	// A request answered after them is answered in order on this
	// connection's subscriptions, so anything they caused has landed.
	e.mustCheck("coinbar", "victim")
	must(t, e.nc.Flush())

	mu.Lock()
	if len(landed) > 0 {
		t.Errorf("the bridge published on subjects it owns:\n%s", strings.Join(landed, "\n"))
	}
	mu.Unlock()
	after, ok := e.stored("coinbar", "victim")
	if !ok || after.EventID != before.EventID || after.Status != before.Status || !after.Published {
		t.Errorf("the victim's record changed: before %+v\nafter %+v", before, after)
	}
	if n := len(e.events()); n != eventsBefore {
		t.Errorf("%d events stored, want %d", n, eventsBefore)
	}
	if warned := strings.Count(logs.String(), "reply subject is one the bridge owns"); warned != 1 {
		t.Errorf("%d warnings about the refused reply subjects within the interval, want 1 naming the first:\n%s", warned, logs.String())
	}
	if !strings.Contains(logs.String(), `reply_subject=$KV.payment_status.coinbar.victim`) {
		t.Errorf("the warning does not name the subject:\n%s", logs.String())
	}
	// A check of the victim still works: its real change is stored and
	// published.
	must(t, e.coinbar.Set("victim", fake.Step{Status: "SUCCESS"}))
	if r := e.mustCheck("coinbar", "victim"); !r.Changed || r.Status != paybridge.StatusPaid {
		t.Fatalf("the victim's change: %+v", r)
	}
}

// Every request on the intake is counted once by outcome, lookups too:
// invalid requests, unknown providers and overloaded refusals included.
func TestEveryRequestIsCountedByOutcome(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	// One shared slot, and a reserve of one for each provider.
	e.startBridge(bridge.Config{Registerer: reg, MaxInflight: 1})
	e.addCoinbar("counted", "PENDING", "")
	e.addMuvinai("hangs", "pending", "not_paid", "0")
	must(t, e.muvinai.Fault("hangs", fake.Fault{Times: 1, Delay: 3 * time.Second}))

	e.mustCheck("coinbar", "counted")                                                         // check changed
	e.mustCheck("coinbar", "counted")                                                         // check unchanged
	e.request("payments.status.get", []byte(`{"provider":"coinbar","payment_id":"counted"}`)) // lookup store
	e.request("payments.check", []byte(`{"provider":"coinbar"}`))                             // check invalid_request
	e.request("payments.status.get", []byte(`not json`))                                      // lookup invalid_request
	e.request("payments.check", []byte(`{"provider":"made-up","payment_id":"x"}`))            // check unknown_provider
	// Two fire-and-forget checks of the hanging payment hold the shared
	// slot and Muvinai's reserve; the next one with a caller waiting is
	// overloaded.
	for range 2 {
		must(t, e.nc.Publish("payments.check", []byte(`{"provider":"muvinai","payment_id":"hangs"}`)))
	}
	testkit.WaitFor(t, 5*time.Second, "the hanging checks in flight", func() bool {
		return len(e.muvinai.Requests()) == 1 && metricValue(t, reg, "paybridge_inflight_checks") == 2
	})
	if r := e.check(map[string]any{"provider": "muvinai", "payment_id": "hangs"}); r.Err == nil || r.Err.Error.Code != paybridge.CodeOverloaded {
		t.Fatalf("want overloaded: %s", r.Raw)
	}

	for _, c := range []struct {
		endpoint, provider, outcome string
	}{
		{"check", "coinbar", "changed"},
		{"check", "coinbar", "unchanged"},
		{"lookup", "coinbar", "store"},
		{"check", "", "invalid_request"},
		{"lookup", "", "invalid_request"},
		{"check", "", "unknown_provider"},
		{"check", "muvinai", "overloaded"},
	} {
		if got := metricValue(t, reg, "paybridge_requests_total", "endpoint", c.endpoint, "provider", c.provider, "outcome", c.outcome); got != 1 {
			t.Errorf("paybridge_requests_total{endpoint=%q,provider=%q,outcome=%q} = %v, want 1", c.endpoint, c.provider, c.outcome, got)
		}
	}
	testkit.WaitFor(t, 10*time.Second, "the hanging checks answered and counted", func() bool {
		return metricValue(t, reg, "paybridge_requests_total", "endpoint", "check", "provider", "muvinai", "outcome", "changed") == 2
	})
}

// A flood of dropped fire-and-forget checks is summed up in the log, not
// written a line each: the first drop at once, naming the payment, then
// one line with the count when the bridge stops (or the interval ends).
func TestDroppedChecksAreSummedUpInTheLog(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	var logs testkit.SyncBuffer
	b := e.startBridge(bridge.Config{Registerer: reg, MaxInflight: 2, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	e.addMuvinai("slow", "pending", "not_paid", "0")
	must(t, e.muvinai.Fault(fake.AnyID, fake.Fault{Times: 10, Delay: 2 * time.Second}))
	const sent = 2000
	for i := range sent {
		must(t, e.nc.Publish("payments.check", fmt.Appendf(nil, `{"provider":"muvinai","payment_id":"slow-%d"}`, i)))
	}
	must(t, e.nc.Flush())
	// Two shared slots, Muvinai's reserve of one and its queue of one:
	// the rest is dropped.
	testkit.WaitFor(t, 10*time.Second, "the drops counted", func() bool {
		return metricValue(t, reg, "paybridge_requests_total", "outcome", "dropped")+metricValue(t, reg, "paybridge_requests_unread_total") == sent-4
	})
	ctx, cancel := contextWithTimeout(10 * time.Second)
	defer cancel()
	must(t, b.Close(ctx))

	var lines, counted int
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		must(t, json.Unmarshal([]byte(line), &rec))
		if !strings.HasPrefix(rec["msg"].(string), "fire-and-forget checks dropped") {
			continue
		}
		lines++
		if n, ok := rec["count"].(float64); ok {
			counted += int(n)
		} else {
			counted++
		}
	}
	dropped := int(metricValue(t, reg, "paybridge_requests_total", "outcome", "dropped"))
	if lines > 3 || counted != dropped {
		t.Fatalf("%d log lines counting %d drops, want at most 3 lines counting all %d", lines, counted, dropped)
	}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// A flood of large fire-and-forget checks holds memory by the count of
// requests taken, not by their bytes: a queued or running check keeps its
// decoded fields, never its message, and the intake buffers at most a few
// MiB of messages not yet read (the NATS client drops the rest, counted).
// The checks all wait on one hanging provider call (coalesced), so nothing
// but the requests themselves takes memory. What is measured is what the
// NATS client allocated and the heap still holds: the messages it read.
// (The NATS server in this process keeps buffers of its own.) The messages
// are 20 KB of white space around the JSON (64 KiB are allowed), sent in
// rounds the bridge takes in full, so that the race detector's cost per
// byte copied keeps the test short.
func TestFloodOfLargeChecksHoldsLittleMemory(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	// 1,024 shared slots, and a reserve of 64 and a queue of 512 for each
	// provider: room for every check sent. On the first hardening round's
	// code, 1,024 checks of 60 KB held 71 MiB.
	e.startBridge(bridge.Config{Registerer: reg, MaxInflight: 1024}, e.providers(providers.WithAttemptTimeout(time.Minute))...)
	e.addMuvinai("flood", "pending", "not_paid", "0")
	// The one coalesced call hangs until the test ends; then its retry
	// answers every check.
	must(t, e.muvinai.Fault("flood", fake.Fault{Times: 1, Delay: time.Minute}))
	defer e.mvServer.CloseClientConnections()
	padded := append(bytes.Repeat([]byte(" "), 20_000), `{"provider":"muvinai","payment_id":"flood"}`...)

	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	// Every allocation of a message from here on is sampled (small ones
	// rarely: they do not matter here, and sampling them all is slow).
	runtime.MemProfileRate = 4096
	// Each message is taken (in flight or queued), dropped for a full
	// queue, or dropped unread; none is answered while the call hangs.
	var taken float64
	count := func(name string, labels ...string) float64 { // 0 for a series not there yet
		if v := metricValue(t, reg, name, labels...); !math.IsNaN(v) {
			return v
		}
		return 0
	}
	accounted := func() float64 {
		taken = count("paybridge_inflight_checks") + count("paybridge_queued_checks", "provider", "muvinai")
		return taken + count("paybridge_requests_total", "outcome", "dropped") + count("paybridge_requests_unread_total")
	}
	const rounds, each = 30, 50 // a round within the intake's buffer (2 MiB)
	for sent := each; sent <= rounds*each; sent += each {
		for range each {
			must(t, e.nc.Publish("payments.check", padded))
		}
		testkit.WaitFor(t, 20*time.Second, "the round taken or dropped", func() bool { return accounted() == float64(sent) })
	}
	if taken != rounds*each {
		t.Fatalf("%v checks taken, want every one (%d)", taken, rounds*each)
	}
	// The runtime escapes the dot of the package's last path element.
	if held := heldBy("github.com/nats-io/nats%2ego."); held > 4<<20 {
		t.Fatalf("the heap holds %.1f MiB the NATS client allocated, with %v checks of 20 KB taken; want under 4", float64(held)/(1<<20), taken)
	}
}

// heldBy is how many bytes the heap holds that were allocated with a
// function of the package prefix on the stack (after a collection, and
// counting only allocations made while runtime.MemProfileRate was 1).
func heldBy(prefix string) int64 {
	runtime.GC()
	runtime.GC() // the profile is that of the last completed cycle
	var records []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, false)
	for {
		records = make([]runtime.MemProfileRecord, n+50)
		var ok bool
		if n, ok = runtime.MemProfile(records, false); ok {
			records = records[:n]
			break
		}
	}
	var held int64
	for _, r := range records {
		frames := runtime.CallersFrames(r.Stack())
		for {
			f, more := frames.Next()
			if strings.HasPrefix(f.Function, prefix) {
				held += r.InUseBytes()
				break
			}
			if !more {
				break
			}
		}
	}
	return held
}
