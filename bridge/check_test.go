package bridge_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers/fake"
)

// sameReply fails the test with a diff when got is not want in every field
// but those that differ from check to check (when, and what the bridge
// named: event id, revision), which the test checks itself.
func sameReply(t *testing.T, what string, got, want paybridge.Reply) {
	t.Helper()
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(paybridge.Reply{}, "CheckedAt", "ProviderUpdatedAt", "EventID", "Revision")); diff != "" {
		t.Fatalf("%s (-want +got):\n%s", what, diff)
	}
}

func statusPtr(s paybridge.Status) *paybridge.Status { return &s }

func TestFirstSightThenChangePublishesOneEventEach(t *testing.T) {
	e := newEnv(t)
	e.startBridge(bridge.Config{})
	e.addCoinbar("order-1", "PENDING", "")

	first := e.check(map[string]any{"provider": "coinbar", "payment_id": "order-1", "request_id": "req-1"}).OK
	if first == nil {
		t.Fatal("first check failed")
	}
	// Amounts exactly as the provider wrote them, never through float64.
	pending := paybridge.Reply{Provider: "coinbar", PaymentID: "order-1", Status: paybridge.StatusPending,
		ProviderStatus: "PENDING", Amount: "8.99", Currency: "EUR", CryptoAmount: "0.00045145423250897323", CryptoCurrency: "BTC",
		Source: paybridge.SourceProvider}
	want := pending
	want.RequestID, want.Changed = "req-1", true
	sameReply(t, "first check", *first, want)
	if first.EventID == "" || first.Revision == 0 {
		t.Fatalf("first check names no event or revision: %q, %d", first.EventID, first.Revision)
	}
	testkit.WaitFor(t, 5*time.Second, "first event", func() bool { return len(e.eventsFor("order-1")) == 1 })

	again := e.mustCheck("coinbar", "order-1")
	want = pending
	want.PreviousStatus = statusPtr(paybridge.StatusPending)
	sameReply(t, "unchanged check", again, want)
	if again.EventID != "" || again.Revision != first.Revision {
		t.Fatalf("unchanged check: event %q, revision %d, want none and %d", again.EventID, again.Revision, first.Revision)
	}

	must(t, e.coinbar.Set("order-1", fake.Step{Status: "SUCCESS"}))
	paid := e.mustCheck("coinbar", "order-1")
	want = pending
	want.Status, want.ProviderStatus, want.Terminal, want.Changed = paybridge.StatusPaid, "SUCCESS", true, true
	want.PreviousStatus = statusPtr(paybridge.StatusPending)
	sameReply(t, "paid check", paid, want)
	if paid.Revision <= first.Revision || paid.EventID == "" {
		t.Fatalf("paid check: revision %d after %d, event %q", paid.Revision, first.Revision, paid.EventID)
	}

	testkit.WaitFor(t, 5*time.Second, "second event", func() bool { return len(e.eventsFor("order-1")) == 2 })
	testkit.WaitFor(t, 5*time.Second, "the record marked published", func() bool {
		rec, ok := e.stored("coinbar", "order-1")
		return ok && rec.Published && rec.Status == paybridge.StatusPaid && rec.Revision == paid.Revision && rec.EventID == paid.EventID
	})
	evs := e.eventsFor("order-1")
	// Nothing else arrives for the unchanged check.
	if len(e.events()) != 2 {
		t.Fatalf("stream holds %d events, want 2", len(e.events()))
	}
	for i, c := range []struct {
		id   string
		prev *paybridge.Status
		data paybridge.Reply
	}{{first.EventID, nil, *first}, {paid.EventID, statusPtr(paybridge.StatusPending), paid}} {
		ev := evs[i]
		if ev.ID != c.id || ev.Type != events.TypeStatusChanged || ev.Source != "urn:paybridge:provider:coinbar" || ev.Subject != "order-1" {
			t.Errorf("event %d: id %s, type %s, source %s, subject %s; want id %s", i, ev.ID, ev.Type, ev.Source, ev.Subject, c.id)
		}
		got := events.StatusChanged{Provider: ev.Data.Provider, PaymentID: ev.Data.PaymentID, Status: ev.Data.Status,
			PreviousStatus: ev.Data.PreviousStatus, Terminal: ev.Data.Terminal, ProviderStatus: ev.Data.ProviderStatus,
			Amount: ev.Data.Amount, Currency: ev.Data.Currency, CryptoAmount: ev.Data.CryptoAmount,
			CryptoCurrency: ev.Data.CryptoCurrency, Revision: ev.Data.Revision}
		want := events.StatusChanged{Provider: "coinbar", PaymentID: "order-1", Status: c.data.Status, PreviousStatus: c.prev,
			Terminal: c.data.Terminal, ProviderStatus: c.data.ProviderStatus, Amount: "8.99", Currency: "EUR",
			CryptoAmount: "0.00045145423250897323", CryptoCurrency: "BTC", Revision: c.data.Revision}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("event %d's data (-want +got):\n%s", i, diff)
		}
	}
}

func TestMuvinaiAmountsAndDetail(t *testing.T) {
	e := newEnv(t)
	e.startBridge(bridge.Config{})
	e.addMuvinai("pr_1", "pending", "underpaid", "1000.25")
	sameReply(t, "reply", e.mustCheck("muvinai", "pr_1"), paybridge.Reply{Provider: "muvinai", PaymentID: "pr_1",
		Status: paybridge.StatusUnderpaid, Changed: true, ProviderStatus: "pending", ProviderStatusDetail: "underpaid",
		Amount: "15000.50", Currency: "ARS", AmountPaid: "1000.25", Source: paybridge.SourceProvider})
}

func TestConcurrentChecksOfOnePaymentShareOneProviderCall(t *testing.T) {
	e := newEnv(t)
	e.startBridge(bridge.Config{})
	e.addCoinbar("hot", "PENDING", "")
	// Slow the provider so the checks overlap.
	must(t, e.coinbar.Fault("hot", fake.Fault{Times: 1, Delay: 300 * time.Millisecond}))

	replies := make([]reply, 500)
	parallel(500, func(i int) {
		replies[i] = e.check(map[string]any{"provider": "coinbar", "payment_id": "hot"})
	})
	for i, r := range replies {
		if r.OK == nil || r.OK.Status != paybridge.StatusPending {
			t.Fatalf("reply %d: %s", i, r.Raw)
		}
	}
	if calls := e.coinbar.Calls("hot"); calls > 3 {
		t.Fatalf("500 concurrent checks made %d provider calls", calls)
	}
	testkit.WaitFor(t, 5*time.Second, "the event", func() bool { return len(e.eventsFor("hot")) >= 1 })
	if n := len(e.eventsFor("hot")); n != 1 {
		t.Fatalf("%d events for one change", n)
	}
}

func TestTransitionGuardRefusesStaleReads(t *testing.T) {
	e := newEnv(t)
	e.startBridge(bridge.Config{})
	e.addCoinbar("settled", "SUCCESS", "")
	paid := e.mustCheck("coinbar", "settled")
	if paid.Status != paybridge.StatusPaid {
		t.Fatalf("first: %+v", paid)
	}
	must(t, e.coinbar.Set("settled", fake.Step{Status: "PENDING"}))
	stale := e.mustCheck("coinbar", "settled")
	sameReply(t, "stale read", stale, paybridge.Reply{Provider: "coinbar", PaymentID: "settled", Status: paybridge.StatusPaid,
		PreviousStatus: statusPtr(paybridge.StatusPaid), Terminal: true, ProviderStatus: "SUCCESS", Amount: "8.99", Currency: "EUR",
		CryptoAmount: "0.00045145423250897323", CryptoCurrency: "BTC", Source: paybridge.SourceProvider, Stale: true})
	if stale.EventID != "" {
		t.Fatalf("a stale read names event %s", stale.EventID)
	}
	// Terminal → terminal is a real change.
	must(t, e.coinbar.Set("settled", fake.Step{Status: "FAILED", Detail: "Refunded to customer"}))
	refunded := e.mustCheck("coinbar", "settled")
	if !refunded.Changed || refunded.Status != paybridge.StatusRefunded || *refunded.PreviousStatus != paybridge.StatusPaid {
		t.Fatalf("refund: %+v", refunded)
	}
	testkit.WaitFor(t, 5*time.Second, "two events", func() bool { return len(e.eventsFor("settled")) == 2 })
	for _, ev := range e.eventsFor("settled") {
		if ev.Data.Status == paybridge.StatusPending {
			t.Fatal("a stale pending was published")
		}
	}
}

func TestUnknownStatusIsNeverStoredOrPublished(t *testing.T) {
	e := newEnv(t)
	e.startBridge(bridge.Config{})
	e.addCoinbar("odd", "ON_HOLD", "manual review")
	sameReply(t, "unknown", e.mustCheck("coinbar", "odd"), paybridge.Reply{Provider: "coinbar", PaymentID: "odd",
		Status: paybridge.StatusUnknown, ProviderStatus: "ON_HOLD", ProviderStatusDetail: "manual review", Amount: "8.99",
		Currency: "EUR", CryptoAmount: "0.00045145423250897323", CryptoCurrency: "BTC", Source: paybridge.SourceProvider})
	lookup := e.request("payments.status.get", []byte(`{"provider":"coinbar","payment_id":"odd"}`))
	if lookup.Err == nil || lookup.Err.Error.Code != paybridge.CodePaymentNotFound {
		t.Fatalf("unknown status was stored: %s", lookup.Raw)
	}
	// A known status afterwards is first sight, with no previous status.
	must(t, e.coinbar.Set("odd", fake.Step{Status: "PENDING"}))
	p := e.mustCheck("coinbar", "odd")
	if !p.Changed || p.PreviousStatus != nil {
		t.Fatalf("after unknown: %+v", p)
	}
	testkit.WaitFor(t, 5*time.Second, "one event", func() bool { return len(e.eventsFor("odd")) == 1 })
	if ev := e.eventsFor("odd"); ev[0].Data.Status != paybridge.StatusPending {
		t.Fatalf("event: %+v", ev[0])
	}
}

func TestMaxAgeAnswersFromTheStore(t *testing.T) {
	e := newEnv(t)
	e.startBridge(bridge.Config{})
	e.addMuvinai("pr_fresh", "approved", "correct", "100")
	first := e.mustCheck("muvinai", "pr_fresh")
	calls := e.muvinai.Calls("pr_fresh")

	r := e.check(map[string]any{"provider": "muvinai", "payment_id": "pr_fresh", "max_age": "1h", "request_id": "cached"}).OK
	if r == nil || r.Source != paybridge.SourceStore || r.Status != paybridge.StatusPaid || r.RequestID != "cached" || r.Revision != first.Revision ||
		r.Changed || r.EventID != "" || r.PreviousStatus == nil || *r.PreviousStatus != paybridge.StatusPaid {
		t.Fatalf("max_age reply: %+v", r)
	}
	if got := e.muvinai.Calls("pr_fresh"); got != calls {
		t.Fatalf("max_age asked the provider: %d calls, want %d", got, calls)
	}
	// A tiny max_age is not met: the provider is asked.
	r = e.check(map[string]any{"provider": "muvinai", "payment_id": "pr_fresh", "max_age": "1ns"}).OK
	if r == nil || r.Source != paybridge.SourceProvider || e.muvinai.Calls("pr_fresh") != calls+1 {
		t.Fatalf("expired max_age: %+v", r)
	}
	// An unchanged check refreshes the stored status's check time.
	r = e.check(map[string]any{"provider": "muvinai", "payment_id": "pr_fresh", "max_age": "1h"}).OK
	if r == nil || r.Source != paybridge.SourceStore || !r.CheckedAt.After(first.CheckedAt) {
		t.Fatalf("refreshed check time: %+v (first %s)", r, first.CheckedAt)
	}
}

func TestStatusLookup(t *testing.T) {
	e := newEnv(t)
	e.startBridge(bridge.Config{})
	e.addCoinbar("look", "CANCELED", "Canceled by client request")
	e.mustCheck("coinbar", "look")
	calls := e.coinbar.Calls("look")
	r := e.request("payments.status.get", []byte(`{"provider":"coinbar","payment_id":"look"}`))
	if r.OK == nil || r.OK.Status != paybridge.StatusCanceled || r.OK.Source != paybridge.SourceStore || r.OK.ProviderStatusDetail != "Canceled by client request" {
		t.Fatalf("lookup: %s", r.Raw)
	}
	if e.coinbar.Calls("look") != calls {
		t.Fatal("lookup called the provider")
	}
	r = e.request("payments.status.get", []byte(`{"provider":"coinbar","payment_id":"never-seen"}`))
	if r.Err == nil || r.Err.Error.Code != paybridge.CodePaymentNotFound || r.Header.Get("Nats-Service-Error-Code") != "404" {
		t.Fatalf("missing lookup: %s", r.Raw)
	}
	r = e.request("payments.status.get", []byte(`{"provider":"paypal","payment_id":"look"}`))
	if r.Err == nil || r.Err.Error.Code != paybridge.CodeUnknownProvider || r.Err.Provider != "paypal" || r.Header.Get("Nats-Service-Error-Code") != "400" {
		t.Fatalf("lookup of an unconfigured provider: %s", r.Raw)
	}
}

func TestFireAndForgetCheckPublishes(t *testing.T) {
	e := newEnv(t)
	e.startBridge(bridge.Config{})
	e.addCoinbar("ff", "SUCCESS", "")
	must(t, e.nc.Publish("payments.check", []byte(`{"provider":"coinbar","payment_id":"ff"}`)))
	testkit.WaitFor(t, 5*time.Second, "event of a fire-and-forget check", func() bool { return len(e.eventsFor("ff")) == 1 })
}

func TestCloudEventWrappedCheck(t *testing.T) {
	e := newEnv(t)
	e.startBridge(bridge.Config{})
	e.addCoinbar("ce-1", "PENDING", "")
	body := `{"specversion":"1.0","id":"x1","source":"urn:test","type":"io.example.check","datacontenttype":"application/json",` +
		`"data":{"provider":"coinbar","payment_id":"ce-1","request_id":"from-ce"}}`
	msg := newMsg("payments.check", []byte(body), "Content-Type", "application/cloudevents+json")
	resp, err := e.nc.RequestMsg(msg, 5*time.Second)
	must(t, err)
	r := e.decodeReply(resp)
	if r.OK == nil || r.OK.RequestID != "from-ce" || r.OK.Status != paybridge.StatusPending {
		t.Fatalf("structured CloudEvent check: %s", r.Raw)
	}
	bin := newMsg("payments.check", []byte(`{"provider":"coinbar","payment_id":"ce-1"}`),
		"ce-specversion", "1.0", "ce-id", "x2", "ce-source", "urn:test", "ce-type", "io.example.check")
	resp, err = e.nc.RequestMsg(bin, 5*time.Second)
	must(t, err)
	if r := e.decodeReply(resp); r.OK == nil {
		t.Fatalf("binary CloudEvent check: %s", r.Raw)
	}
}

func TestHostilePaymentIDsAreStoredSafely(t *testing.T) {
	e := newEnv(t)
	e.startBridge(bridge.Config{})
	ids := []string{"a.b.*>", "../../x", "$JS.API.>", "a/b?c%d#e f ü€", strings.Repeat("z", 256)}
	for _, id := range ids {
		e.addCoinbar(id, "PENDING", "")
		r := e.mustCheck("coinbar", id)
		if r.PaymentID != id || !r.Changed {
			t.Fatalf("%q: %+v", id, r)
		}
	}
	testkit.WaitFor(t, 5*time.Second, "one event per id", func() bool { return len(e.events()) == len(ids) })
	for _, id := range ids {
		evs := e.eventsFor(id)
		if len(evs) != 1 || evs[0].Subject != id {
			t.Fatalf("%q: events %+v", id, evs)
		}
		lookup, err := e.js.KeyValue(t.Context(), "payment_status")
		must(t, err)
		if _, err := lookup.Get(t.Context(), bridge.Key("coinbar", id)); err != nil {
			t.Fatalf("%q not under its key: %v", id, err)
		}
	}
}

// funcProvider is a provider whose answers a test scripts.
type funcProvider struct {
	name  string
	calls atomic.Int32
	check func(call int32) (paybridge.Result, error)
}

func (p *funcProvider) Name() string { return p.name }
func (p *funcProvider) Check(context.Context, string) (paybridge.Result, error) {
	return p.check(p.calls.Add(1))
}

// A provider client that panics costs one check an internal error, not
// the process; and a panicking probe call frees the circuit's probe, so
// that the next call may go.
func TestAPanickingProviderCostsOneCheck(t *testing.T) {
	e := newEnv(t)
	p := &funcProvider{name: "coinbar", check: func(call int32) (paybridge.Result, error) {
		switch call {
		case 1:
			return paybridge.Result{}, paybridge.Errorf(paybridge.CodeProviderUnavailable, "down")
		case 2:
			panic("a bug in the provider client")
		}
		return paybridge.Result{Status: paybridge.StatusPending, ProviderStatus: "PENDING"}, nil
	}}
	e.startBridge(bridge.Config{BreakerThreshold: 1, BreakerCooldown: 50 * time.Millisecond}, p)
	if r := e.check(map[string]any{"provider": "coinbar", "payment_id": "bug"}); r.Err == nil || r.Err.Error.Code != paybridge.CodeProviderUnavailable {
		t.Fatalf("first check: %s", r.Raw)
	}
	var probe reply
	testkit.WaitFor(t, 10*time.Second, "the probe call after the cooldown", func() bool {
		probe = e.check(map[string]any{"provider": "coinbar", "payment_id": "bug"})
		return p.calls.Load() == 2
	})
	if probe.Err == nil || probe.Err.Error.Code != paybridge.CodeInternal || strings.Contains(string(probe.Raw), "bug in the provider") {
		t.Fatalf("the panicking call: %s", probe.Raw)
	}
	if r := e.check(map[string]any{"provider": "coinbar", "payment_id": "bug"}); r.OK == nil || r.OK.Status != paybridge.StatusPending {
		t.Fatalf("the check after the panic: %s", r.Raw)
	}
}

// A provider's time outside the years a payment can be dated is refused as
// provider_bad_response and leaves the record as it was. Taken, a refund
// dated 2300 would wrap the nanosecond count that orders answers, and a
// late paid answer dated 2027 would then undo it; a time in year 10000 in
// UTC cannot be stored, so every check of the payment failed as internal.
// A provider client that dates its answers itself is held to the same
// bounds as the ones that parse with providers.ParseTime.
func TestProviderTimesNoPaymentHasAreRefused(t *testing.T) {
	e := newEnv(t)
	dated := &funcProvider{name: "muvinai", check: func(call int32) (paybridge.Result, error) {
		if call == 1 {
			return paybridge.Result{Status: paybridge.StatusPaid, ProviderStatus: "paid", UpdatedAt: time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)}, nil
		}
		return paybridge.Result{Status: paybridge.StatusRefunded, ProviderStatus: "refunded", UpdatedAt: time.Date(2300, 1, 2, 10, 0, 0, 0, time.UTC)}, nil
	}}
	e.startBridge(bridge.Config{}, e.providers()[0], dated)
	e.addCoinbar("far", "SUCCESS", "")
	e.mustCheck("coinbar", "far")
	e.mustCheck("muvinai", "far")
	for _, at := range []string{"2300-01-02T10:00:00Z", "9999-12-31T23:59:59-23:59", "1000-01-01T00:00:00Z"} {
		body := `{"payment_request_id_client":"far","status":"FAILED","status_descr":"Refund","payment_detail":{"total_price":8.99},"input_coin":"EUR","update_time":"` + at + `"}`
		must(t, e.coinbar.Fault("far", fake.Fault{Times: 1, Body: []byte(body)}))
		r := e.check(map[string]any{"provider": "coinbar", "payment_id": "far"})
		if r.Err == nil || r.Err.Error.Code != paybridge.CodeProviderBadResponse || !strings.Contains(r.Err.Error.Message, "update_time") {
			t.Errorf("coinbar dated %s: %s", at, r.Raw)
		}
	}
	r := e.check(map[string]any{"provider": "muvinai", "payment_id": "far"})
	if r.Err == nil || r.Err.Error.Code != paybridge.CodeProviderBadResponse || !strings.Contains(r.Err.Error.Message, "2300") {
		t.Errorf("muvinai dated 2300: %s", r.Raw)
	}
	for _, provider := range []string{"coinbar", "muvinai"} {
		if rec, _ := e.stored(provider, "far"); rec.Status != paybridge.StatusPaid {
			t.Errorf("%s: stored %s, want paid as before", provider, rec.Status)
		}
	}
}
