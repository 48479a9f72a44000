package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/client"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/fake"
)

// newWorld starts NATS and the provider fakes for one test, without a
// bridge; everything stops at the test's end.
func newWorld(t *testing.T) *world {
	t.Helper()
	w, err := startWorld()
	t.Cleanup(w.close)
	must(t, err)
	return w
}

// newBridge is newWorld with a bridge running cfg (on both fakes when provs
// is empty).
func newBridge(t *testing.T, cfg bridge.Config, provs ...paybridge.Provider) *world {
	t.Helper()
	w := newWorld(t)
	must(t, w.startBridge(cfg, provs...))
	return w
}

func newClient(t *testing.T, nc *nats.Conn, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(nc, opts...)
	must(t, err)
	return c
}

// within is the test's context, cut to d: no request of a test waits long.
func within(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func (w *world) addPending(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		must(t, w.coinbar.Add(fake.Payment{ID: id, Amount: "8.99", Currency: "EUR", Steps: []fake.Step{{Status: "PENDING"}}}))
	}
}

// receive waits for a value from ch, and fails the test when none comes
// within 10 s.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out after 10s waiting for %s", what)
		panic("unreachable")
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestCheckAndStatusReturnTheBridgesReply(t *testing.T) {
	w := newBridge(t, bridge.Config{})
	must(t, w.addExamplePayments())
	c := newClient(t, w.nc)
	ctx := within(t, 10*time.Second)

	var raw []byte
	rep, err := c.Check(ctx, "coinbar", "order-1", client.Watch(), client.RequestID("req-7"), client.ReplyJSON(&raw))
	must(t, err)
	if rep.Status != paybridge.StatusPending || !rep.Changed || rep.PreviousStatus != nil || !rep.Watching ||
		rep.RequestID != "req-7" || rep.Source != paybridge.SourceProvider || rep.EventID == "" {
		t.Fatalf("first check: %+v", rep)
	}
	if rep.Amount != "8.99" || rep.CryptoAmount != "0.00045145423250897323" || rep.CryptoCurrency != "BTC" {
		t.Errorf("amounts lost digits: %+v", rep)
	}
	var asReceived paybridge.Reply
	must(t, json.Unmarshal(raw, &asReceived))
	if asReceived.EventID != rep.EventID || !strings.Contains(string(raw), `"crypto_amount":"0.00045145423250897323"`) {
		t.Errorf("ReplyJSON holds %s", raw)
	}

	rep, err = c.Check(ctx, "coinbar", "order-1", client.MaxAge(time.Hour))
	must(t, err)
	if rep.Source != paybridge.SourceStore || rep.Changed {
		t.Errorf("check with max_age: %+v", rep)
	}
	rep, err = c.Status(ctx, "coinbar", "order-1")
	must(t, err)
	if rep.Status != paybridge.StatusPending || rep.Source != paybridge.SourceStore || rep.Revision == 0 {
		t.Errorf("status: %+v", rep)
	}
}

// Every error code of docs/contract.md, "Error codes", driven as
// bridge/errors_test.go drives it, reaches the caller as its own sentinel
// and no other, with the code and message under errors.As and the request
// echoed.
func TestEveryErrorCodeMapsToItsSentinel(t *testing.T) {
	sentinels := map[paybridge.Code]error{
		paybridge.CodeInvalidRequest:      client.ErrInvalidRequest,
		paybridge.CodeUnknownProvider:     client.ErrUnknownProvider,
		paybridge.CodeUnknownAccount:      client.ErrUnknownAccount,
		paybridge.CodePaymentNotFound:     client.ErrPaymentNotFound,
		paybridge.CodeProviderAuthFailed:  client.ErrProviderAuthFailed,
		paybridge.CodeProviderRateLimited: client.ErrProviderRateLimited,
		paybridge.CodeProviderUnavailable: client.ErrProviderUnavailable,
		paybridge.CodeProviderTimeout:     client.ErrProviderTimeout,
		paybridge.CodeProviderBadResponse: client.ErrProviderBadResponse,
		paybridge.CodeOverloaded:          client.ErrOverloaded,
		paybridge.CodeInternal:            client.ErrInternal,
	}
	type sender func(ctx context.Context, c *client.Client, raw *[]byte) error
	checkP := func(ctx context.Context, c *client.Client, raw *[]byte) error {
		_, err := c.Check(ctx, "coinbar", "p", client.ReplyJSON(raw))
		return err
	}
	cases := []struct {
		code  paybridge.Code
		start func(t *testing.T) (*world, sender)
	}{
		{paybridge.CodeInvalidRequest, func(t *testing.T) (*world, sender) {
			return newBridge(t, bridge.Config{}), func(ctx context.Context, c *client.Client, raw *[]byte) error {
				_, err := c.Check(ctx, "coinbar", "p", client.MaxAge(31*24*time.Hour), client.ReplyJSON(raw))
				return err
			}
		}},
		{paybridge.CodeUnknownProvider, func(t *testing.T) (*world, sender) {
			return newBridge(t, bridge.Config{}), func(ctx context.Context, c *client.Client, raw *[]byte) error {
				_, err := c.Check(ctx, "paypal", "p", client.ReplyJSON(raw))
				return err
			}
		}},
		{paybridge.CodeUnknownAccount, func(t *testing.T) (*world, sender) {
			return newBridge(t, bridge.Config{}), func(ctx context.Context, c *client.Client, raw *[]byte) error {
				_, err := c.Check(ctx, "coinbar", "p", client.Account("shop-42"), client.ReplyJSON(raw))
				var re *client.ReplyError
				if errors.As(err, &re) && re.Account != "shop-42" {
					t.Errorf("the account is not echoed: %+v", re)
				}
				return err
			}
		}},
		{paybridge.CodePaymentNotFound, func(t *testing.T) (*world, sender) {
			return newBridge(t, bridge.Config{}), checkP
		}},
		{paybridge.CodeProviderAuthFailed, func(t *testing.T) (*world, sender) {
			w := newWorld(t)
			w.addPending(t, "p")
			wrong, err := coinbar.New(w.cbURL, "wrong-client-id", coinbar.WithSecretKey(coinbarSecret))
			must(t, err)
			must(t, w.startBridge(bridge.Config{}, wrong))
			return w, checkP
		}},
		{paybridge.CodeProviderRateLimited, func(t *testing.T) (*world, sender) {
			w := newBridge(t, bridge.Config{})
			w.addPending(t, "p")
			must(t, w.coinbar.Fault("p", fake.Fault{Times: 4, Status: 429}))
			return w, checkP
		}},
		{paybridge.CodeProviderUnavailable, func(t *testing.T) (*world, sender) {
			w := newBridge(t, bridge.Config{})
			w.addPending(t, "p")
			must(t, w.coinbar.Fault("p", fake.Fault{Times: 4, Status: 503}))
			return w, checkP
		}},
		{paybridge.CodeProviderTimeout, func(t *testing.T) (*world, sender) {
			w := newBridge(t, bridge.Config{CheckTimeout: 200 * time.Millisecond})
			w.addPending(t, "p")
			must(t, w.coinbar.Fault("p", fake.Fault{Times: 1, Delay: 3 * time.Second}))
			return w, checkP
		}},
		{paybridge.CodeProviderBadResponse, func(t *testing.T) (*world, sender) {
			w := newBridge(t, bridge.Config{})
			w.addPending(t, "p")
			must(t, w.coinbar.Fault("p", fake.Fault{Times: 1, Status: 200, Body: fake.HTMLPage(200)}))
			return w, checkP
		}},
		{paybridge.CodeOverloaded, func(t *testing.T) (*world, sender) {
			w := newBridge(t, bridge.Config{MaxWatches: 1})
			w.addPending(t, "watched", "p")
			c := newClient(t, w.nc)
			if _, err := c.Check(within(t, 10*time.Second), "coinbar", "watched", client.Watch()); err != nil {
				t.Fatalf("the one watch allowed: %v", err)
			}
			return w, func(ctx context.Context, c *client.Client, raw *[]byte) error {
				_, err := c.Check(ctx, "coinbar", "p", client.Watch(), client.ReplyJSON(raw))
				return err
			}
		}},
		{paybridge.CodeInternal, func(t *testing.T) (*world, sender) {
			w := newBridge(t, bridge.Config{})
			w.addPending(t, "p")
			js, err := jetstream.New(w.nc)
			must(t, err)
			must(t, js.DeleteKeyValue(t.Context(), "payment_status")) // the store, gone under the running bridge
			return w, checkP
		}},
	}
	for _, code := range paybridge.Codes {
		if sentinels[code] == nil {
			t.Errorf("no sentinel for %s", code)
		}
	}
	if len(cases) != len(paybridge.Codes) {
		t.Errorf("%d cases for %d codes", len(cases), len(paybridge.Codes))
	}
	for _, tc := range cases {
		t.Run(string(tc.code), func(t *testing.T) {
			w, send := tc.start(t)
			var raw []byte
			err := send(within(t, 10*time.Second), newClient(t, w.nc), &raw)
			for code, sentinel := range sentinels {
				if errors.Is(err, sentinel) != (code == tc.code) {
					t.Errorf("errors.Is(%v, sentinel of %s) = %t", err, code, code != tc.code)
				}
			}
			var pe *paybridge.Error
			if !errors.As(err, &pe) || pe.Code != tc.code || pe.Message == "" {
				t.Fatalf("errors.As gives %+v from %v", pe, err)
			}
			var body paybridge.ErrorReply
			must(t, json.Unmarshal(raw, &body))
			if body.Error.Retryable != pe.Code.Retryable() || body.Error.Message != pe.Message {
				t.Errorf("reply %s, error %+v", raw, pe)
			}
			var re *client.ReplyError
			if !errors.As(err, &re) || re.Err != pe {
				t.Fatalf("no *ReplyError holding the *paybridge.Error in %v", err)
			}
			if tc.code != paybridge.CodeInvalidRequest && (re.PaymentID != "p" || re.Provider == "") {
				t.Errorf("the request is not echoed: %+v", re)
			}
			if !strings.Contains(err.Error(), string(tc.code)) {
				t.Errorf("the error %q does not name its code", err)
			}
		})
	}
}

// Arguments the bridge would refuse at sight are refused without a round
// trip: here no bridge runs, and the error is still invalid_request.
func TestInvalidArgumentsAreRefusedBeforeSending(t *testing.T) {
	w := newWorld(t)
	c := newClient(t, w.nc)
	ctx := within(t, 5*time.Second)
	for name, tc := range map[string]struct {
		send func(raw *[]byte) error
		want string
	}{
		"check, empty provider": {func(raw *[]byte) error {
			_, err := c.Check(ctx, "", "order-1", client.ReplyJSON(raw))
			return err
		}, "provider: must be 1 to 64 bytes, got 0"},
		"check, empty payment id": {func(raw *[]byte) error {
			_, err := c.Check(ctx, "coinbar", "", client.ReplyJSON(raw))
			return err
		}, "payment_id: must be 1 to 256 bytes, got 0"},
		"check, negative max age": {func(raw *[]byte) error {
			_, err := c.Check(ctx, "coinbar", "order-1", client.MaxAge(-time.Second), client.ReplyJSON(raw))
			return err
		}, `max_age: must not be negative, got "-1s"`},
		"status, empty payment id": {func(raw *[]byte) error {
			_, err := c.Status(ctx, "coinbar", "", client.ReplyJSON(raw))
			return err
		}, "payment_id: must be 1 to 256 bytes, got 0"},
	} {
		var raw []byte
		err := tc.send(&raw)
		if !errors.Is(err, client.ErrInvalidRequest) || errors.Is(err, client.ErrNoBridge) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want invalid_request naming %q", name, err, tc.want)
		}
		if raw != nil {
			t.Errorf("%s: a reply was received: %s", name, raw)
		}
	}
}

func TestNoBridgeIsErrNoBridge(t *testing.T) {
	w := newWorld(t)
	c := newClient(t, w.nc)
	ctx := within(t, 5*time.Second)
	_, err := c.Check(ctx, "coinbar", "order-1")
	if !errors.Is(err, client.ErrNoBridge) || !errors.Is(err, nats.ErrNoResponders) || !strings.Contains(err.Error(), "payments.check") {
		t.Errorf("check: %v", err)
	}
	_, err = c.Status(ctx, "coinbar", "order-1")
	if !errors.Is(err, client.ErrNoBridge) || !strings.Contains(err.Error(), "payments.status.get") {
		t.Errorf("status: %v", err)
	}
}

// The request's deadline is the context's: a slow provider makes the
// check give up when ctx ends, with ctx's error.
func TestTheDeadlineIsTheContexts(t *testing.T) {
	w := newBridge(t, bridge.Config{CheckTimeout: time.Second})
	w.addPending(t, "slow")
	must(t, w.coinbar.Fault("slow", fake.Fault{Times: 1, Delay: 2 * time.Second}))
	c := newClient(t, w.nc)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Check(ctx, "coinbar", "slow")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's deadline", err)
	}
	if waited := time.Since(start); waited > 900*time.Millisecond { // before the bridge's own answer
		t.Errorf("the check waited %s past a deadline of 200ms", waited)
	}
}

// An answer that is not a reply of the contract is ErrMalformedReply naming
// the problem, and ReplyJSON still holds it as received.
func TestMalformedRepliesAreNamed(t *testing.T) {
	w := newWorld(t)
	replyAbout := func(id string) string {
		b, err := json.Marshal(paybridge.Reply{Provider: "coinbar", PaymentID: id, Status: paybridge.StatusPaid, Terminal: true,
			ProviderStatus: "SUCCESS", CheckedAt: time.Now(), Source: paybridge.SourceProvider, Amount: "8.99"})
		must(t, err)
		return string(b)
	}
	answers := map[string]struct { // by the payment id asked about
		header nats.Header
		body   string
		want   string // in the error; empty: a good reply
	}{
		"good":          {nil, replyAbout("good"), ""},
		"html":          {nil, "<html>502 Bad Gateway</html>", "not JSON"},
		"float-amount":  {nil, strings.Replace(replyAbout("float-amount"), `"amount":"8.99"`, `"amount":8.99`, 1), "amount"},
		"odd-amount":    {nil, strings.Replace(replyAbout("odd-amount"), `"8.99"`, `"8,99"`, 1), `amount "8,99" is not a decimal number`},
		"odd-status":    {nil, strings.Replace(replyAbout("odd-status"), `"status":"paid"`, `"status":"settled"`, 1), `status "settled" is not a normalized status`},
		"other-payment": {nil, replyAbout("someone-else"), `about "coinbar" payment "someone-else", not the payment asked about`},
		"null":          {nil, "null", "not a normalized status"},
		"empty":         {nil, "", "not JSON"},
		"error-html":    {nats.Header{"Nats-Service-Error-Code": {"503"}, "Nats-Service-Error": {"overloaded: busy"}}, "<html>", `error reply (503 "overloaded: busy") whose body is not JSON`},
		"error-no-code": {nats.Header{"Nats-Service-Error-Code": {"500"}}, `{"error":{"message":"x"}}`, "without an error code"},
	}
	responder, err := w.nc.Subscribe("test.check", func(m *nats.Msg) {
		var req struct {
			PaymentID string `json:"payment_id"`
		}
		_ = json.Unmarshal(m.Data, &req)
		a := answers[req.PaymentID]
		_ = m.RespondMsg(&nats.Msg{Header: a.header, Data: []byte(a.body)})
	})
	must(t, err)
	defer responder.Unsubscribe()
	c := newClient(t, w.nc, client.WithCheckSubject("test.check"))
	ctx := within(t, 5*time.Second)
	for id, a := range answers {
		var raw []byte
		rep, err := c.Check(ctx, "coinbar", id, client.ReplyJSON(&raw))
		if string(raw) != a.body || raw == nil {
			t.Errorf("%s: ReplyJSON holds %q (nil: %t), want %q", id, raw, raw == nil, a.body)
		}
		if a.want == "" {
			if err != nil || rep.Status != paybridge.StatusPaid || rep.Amount != "8.99" {
				t.Errorf("%s: %+v, %v", id, rep, err)
			}
			continue
		}
		if !errors.Is(err, client.ErrMalformedReply) || !strings.Contains(err.Error(), a.want) || !strings.Contains(err.Error(), "test.check") {
			t.Errorf("%s: %v, want ErrMalformedReply naming %q", id, err, a.want)
		}
		var pe *paybridge.Error
		if errors.As(err, &pe) {
			t.Errorf("%s: a malformed reply became a coded error %+v", id, pe)
		}
	}
}

// A check or lookup made within a span carries its trace context to the
// bridge in W3C headers; one made outside any span carries none. A core
// subscription beside the bridge sees the requests as the bridge gets them.
func TestRequestsCarryTheCallersTrace(t *testing.T) {
	w := newBridge(t, bridge.Config{})
	w.addPending(t, "traced")
	seen := make(chan *nats.Msg, 4)
	spy, err := w.nc.Subscribe("payments.>", func(m *nats.Msg) {
		if m.Subject == "payments.check" || m.Subject == "payments.status.get" {
			seen <- m
		}
	})
	must(t, err)
	defer spy.Unsubscribe()
	must(t, w.nc.Flush())

	state, err := trace.ParseTraceState("vendor=opaque")
	must(t, err)
	span := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
		TraceState: state,
	})
	const wantParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	c := newClient(t, w.nc)
	traced := trace.ContextWithSpanContext(within(t, 10*time.Second), span)

	if _, err := c.Check(traced, "coinbar", "traced"); err != nil {
		t.Fatalf("the bridge did not answer a traced check: %v", err)
	}
	if _, err := c.Status(traced, "coinbar", "traced"); err != nil {
		t.Fatalf("the bridge did not answer a traced lookup: %v", err)
	}
	for _, subject := range []string{"payments.check", "payments.status.get"} {
		m := receive(t, seen, "a request on "+subject)
		if m.Subject != subject || m.Header.Get("traceparent") != wantParent || m.Header.Get("tracestate") != "vendor=opaque" {
			t.Errorf("on %s: headers %v, want traceparent %s", m.Subject, m.Header, wantParent)
		}
	}
	if _, err := c.Check(within(t, 10*time.Second), "coinbar", "traced"); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, seen, "the untraced check"); m.Header.Get("traceparent") != "" || m.Header.Get("tracestate") != "" {
		t.Errorf("a check outside any span sent %v", m.Header)
	}
}

func TestNewRefusesWhatCannotBeAnAsset(t *testing.T) {
	w := newWorld(t)
	if _, err := client.New(nil); err == nil || !strings.Contains(err.Error(), "nil *nats.Conn") {
		t.Errorf("New(nil): %v", err)
	}
	for _, tc := range []struct {
		opt  client.Option
		want string
	}{
		{client.WithCheckSubject(""), `check subject "": must not be empty`},
		{client.WithStatusSubject("payments.>"), `status subject "payments.>": must not contain wildcards`},
		{client.WithCheckSubject("payments check"), "white space"},
		{client.WithCheckSubject("payments..check"), "empty token"},
		{client.WithEventSubjects("payments.status.changed", "payments.*.expired"), `watch-expired subject "payments.*.expired"`},
		{client.WithEventStream("PAYMENT.EVENTS"), `event stream name "PAYMENT.EVENTS" must not contain`},
		{client.WithEventStream(""), "event stream name must not be empty"},
	} {
		if _, err := client.New(w.nc, tc.opt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error naming %q", err, tc.want)
		}
	}
	c := newClient(t, w.nc, client.WithCheckSubject("shop.payments.check"), client.WithStatusSubject("shop.payments.status"))
	if _, err := c.Check(within(t, 5*time.Second), "coinbar", "x"); err == nil || !strings.Contains(err.Error(), "shop.payments.check") {
		t.Errorf("the check subject is not the one given: %v", err)
	}
}
