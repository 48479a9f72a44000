package bridge_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/fake"
)

// Every error code of docs/contract.md, "Error codes", reaches the caller with its micro
// header code, and no message carries a credential.
func TestEveryErrorCode(t *testing.T) {
	cases := []struct {
		code   paybridge.Code
		header string
		setup  func(e *env) (cfg bridge.Config, provs []paybridge.Provider, body string)
	}{
		{paybridge.CodeInvalidRequest, "400", func(e *env) (bridge.Config, []paybridge.Provider, string) {
			return bridge.Config{}, nil, `{"provider":"coinbar"`
		}},
		{paybridge.CodeUnknownProvider, "400", func(e *env) (bridge.Config, []paybridge.Provider, string) {
			return bridge.Config{}, nil, `{"provider":"paypal","payment_id":"x"}`
		}},
		{paybridge.CodePaymentNotFound, "404", func(e *env) (bridge.Config, []paybridge.Provider, string) {
			return bridge.Config{}, nil, `{"provider":"coinbar","payment_id":"nobody"}`
		}},
		{paybridge.CodeProviderAuthFailed, "502", func(e *env) (bridge.Config, []paybridge.Provider, string) {
			e.addCoinbar("p", "PENDING", "")
			wrong, err := coinbar.New(e.cbURL, "wrong-client-id-SECRET", coinbar.WithSecretKey(coinbarSecret))
			must(e.t, err)
			return bridge.Config{}, []paybridge.Provider{wrong}, `{"provider":"coinbar","payment_id":"p"}`
		}},
		{paybridge.CodeProviderRateLimited, "429", func(e *env) (bridge.Config, []paybridge.Provider, string) {
			e.addCoinbar("p", "PENDING", "")
			must(e.t, e.coinbar.Fault("p", fake.Fault{Times: 4, Status: 429}))
			return bridge.Config{}, nil, `{"provider":"coinbar","payment_id":"p"}`
		}},
		{paybridge.CodeProviderUnavailable, "503", func(e *env) (bridge.Config, []paybridge.Provider, string) {
			e.addCoinbar("p", "PENDING", "")
			must(e.t, e.coinbar.Fault("p", fake.Fault{Times: 4, Status: 503}))
			return bridge.Config{}, nil, `{"provider":"coinbar","payment_id":"p"}`
		}},
		{paybridge.CodeProviderTimeout, "504", func(e *env) (bridge.Config, []paybridge.Provider, string) {
			e.addCoinbar("p", "PENDING", "")
			must(e.t, e.coinbar.Fault("p", fake.Fault{Times: 1, Delay: 3 * time.Second}))
			return bridge.Config{CheckTimeout: 200 * time.Millisecond}, nil, `{"provider":"coinbar","payment_id":"p"}`
		}},
		{paybridge.CodeProviderBadResponse, "502", func(e *env) (bridge.Config, []paybridge.Provider, string) {
			e.addCoinbar("p", "PENDING", "")
			must(e.t, e.coinbar.Fault("p", fake.Fault{Times: 1, Status: 200, Body: fake.HTMLPage(200)}))
			return bridge.Config{}, nil, `{"provider":"coinbar","payment_id":"p"}`
		}},
		{paybridge.CodeInternal, "500", func(e *env) (bridge.Config, []paybridge.Provider, string) {
			e.addCoinbar("p", "PENDING", "")
			return bridge.Config{}, nil, `{"provider":"coinbar","payment_id":"p"}`
		}},
	}
	for _, tc := range cases {
		t.Run(string(tc.code), func(t *testing.T) {
			e := newEnv(t)
			cfg, provs, body := tc.setup(e)
			e.startBridge(cfg, provs...)
			if tc.code == paybridge.CodeInternal {
				// Take the store away under the running bridge.
				must(t, e.js.DeleteKeyValue(t.Context(), "payment_status"))
			}
			r := e.request("payments.check", []byte(body))
			if r.Err == nil {
				t.Fatalf("no error: %s", r.Raw)
			}
			if r.Err.Error.Code != tc.code || r.Header.Get("Nats-Service-Error-Code") != tc.header {
				t.Fatalf("got %s (header %q), want %s (%s): %s", r.Err.Error.Code, r.Header.Get("Nats-Service-Error-Code"), tc.code, tc.header, r.Raw)
			}
			if r.Err.Error.Retryable != tc.code.Retryable() || r.Err.Error.Message == "" || r.Header.Get("Nats-Service-Error") == "" {
				t.Fatalf("error body: %s", r.Raw)
			}
			if bytes.Contains(r.Raw, []byte("SECRET")) || strings.Contains(r.Header.Get("Nats-Service-Error"), "SECRET") {
				t.Fatalf("a credential leaked: %s", r.Raw)
			}
		})
	}
}

// Past the shared slots and its reserve, a check with a caller waiting
// is answered overloaded at once; once slots free up it is served again.
func TestOverloadedPastTheInflightLimit(t *testing.T) {
	e := newEnv(t)
	e.startBridge(bridge.Config{MaxInflight: 2}) // 2 shared, and a reserve of 1 for each provider
	const held = 3
	for i := range held {
		id := fmt.Sprintf("busy-%d", i)
		e.addCoinbar(id, "PENDING", "")
		must(t, e.coinbar.Fault(id, fake.Fault{Times: 1, Delay: time.Second}))
	}
	done := make(chan reply, held)
	for i := range held {
		go func() {
			done <- e.check(map[string]any{"provider": "coinbar", "payment_id": fmt.Sprintf("busy-%d", i)})
		}()
	}
	testkit.WaitFor(t, 5*time.Second, "three checks in flight", func() bool { return len(e.coinbar.Requests()) == held })
	r := e.check(map[string]any{"provider": "coinbar", "payment_id": "busy-0"})
	if r.Err == nil || r.Err.Error.Code != paybridge.CodeOverloaded || r.Header.Get("Nats-Service-Error-Code") != "503" || !r.Err.Error.Retryable {
		t.Fatalf("fourth check: %s", r.Raw)
	}
	for range held {
		if r := <-done; r.OK == nil {
			t.Fatalf("in-flight check: %s", r.Raw)
		}
	}
	// Capacity is back once they finish.
	if r := e.check(map[string]any{"provider": "coinbar", "payment_id": "busy-1"}); r.OK == nil {
		t.Fatalf("after: %s", r.Raw)
	}
}

// Hostile input is refused with a clear invalid_request and the service
// stays up for the next request.
func TestHostileInputKeepsTheServiceUp(t *testing.T) {
	e := newEnv(t)
	e.startBridge(bridge.Config{})
	e.addCoinbar("ok", "PENDING", "")
	big := append([]byte(`{"provider":"coinbar","payment_id":"`), bytes.Repeat([]byte("x"), 1<<20-100)...)
	big = append(big, `"}`...)
	cases := map[string]struct{ body, want string }{
		"not JSON":         {`hello`, "JSON"},
		"empty":            {``, "not JSON"},
		"array":            {`[1,2]`, "array"},
		"missing id":       {`{"provider":"coinbar"}`, "payment_id"},
		"missing provider": {`{"payment_id":"x"}`, "provider"},
		"wrong type":       {`{"provider":"coinbar","payment_id":42}`, "payment_id"},
		"wrong watch":      {`{"provider":"coinbar","payment_id":"x","watch":"yes"}`, "watch"},
		"unknown field":    {`{"provider":"coinbar","payment_id":"x","amount":"1"}`, `"amount"`},
		"control char":     {`{"provider":"coinbar","payment_id":"a\u0007b"}`, "control"},
		"257-byte id":      {`{"provider":"coinbar","payment_id":"` + strings.Repeat("i", 257) + `"}`, "256"},
		"dot segment":      {`{"provider":"coinbar","payment_id":".."}`, "payment_id"},
		"bad max_age":      {`{"provider":"coinbar","payment_id":"x","max_age":"soon"}`, "max_age"},
		"1 MiB payload":    {string(big), "65536"},
	}
	for name, tc := range cases {
		r := e.request("payments.check", []byte(tc.body))
		if r.Err == nil || r.Err.Error.Code != paybridge.CodeInvalidRequest || r.Header.Get("Nats-Service-Error-Code") != "400" {
			t.Fatalf("%s: %s", name, r.Raw)
		}
		if !strings.Contains(r.Err.Error.Message, tc.want) || len(r.Err.Error.Message) > 300 {
			t.Fatalf("%s: message %q does not name %q", name, r.Err.Error.Message, tc.want)
		}
	}
	if r := e.mustCheck("coinbar", "ok"); r.Status != paybridge.StatusPending {
		t.Fatalf("after hostile input: %+v", r)
	}
	if len(e.events()) != 1 {
		t.Fatal("hostile input produced events")
	}
}

// A provider that keeps failing is not asked by every check: its circuit
// opens, checks are answered provider_unavailable at once, and one probe
// after the cooldown closes it again.
func TestCircuitOpensOnAnOutageAndRecovers(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	e.startBridge(bridge.Config{Registerer: reg, BreakerThreshold: 2, BreakerCooldown: 300 * time.Millisecond})
	e.addCoinbar("down", "PENDING", "")
	must(t, e.coinbar.Fault("down", fake.Fault{Times: 8, Status: 503})) // two checks' worth of attempts
	for range 2 {
		if r := e.check(map[string]any{"provider": "coinbar", "payment_id": "down"}); r.Err == nil || r.Err.Error.Code != paybridge.CodeProviderUnavailable {
			t.Fatalf("during the outage: %s", r.Raw)
		}
	}
	calls := e.coinbar.Calls("down")
	r := e.check(map[string]any{"provider": "coinbar", "payment_id": "down"})
	if r.Err == nil || r.Err.Error.Code != paybridge.CodeProviderUnavailable || !strings.Contains(r.Err.Error.Message, "in a row") {
		t.Fatalf("open circuit: %s", r.Raw)
	}
	if e.coinbar.Calls("down") != calls {
		t.Fatal("an open circuit called the provider")
	}
	if v := metricValue(t, reg, "paybridge_provider_circuit_open", "provider", "coinbar"); v != 1 {
		t.Fatalf("circuit gauge %v", v)
	}
	// The outage is over; after the cooldown a probe closes the circuit.
	testkit.WaitFor(t, 5*time.Second, "the probe to close the circuit", func() bool {
		r := e.check(map[string]any{"provider": "coinbar", "payment_id": "down"})
		return r.OK != nil && r.OK.Status == paybridge.StatusPending
	})
	if v := metricValue(t, reg, "paybridge_provider_circuit_open", "provider", "coinbar"); v != 0 {
		t.Fatalf("circuit gauge %v after recovery", v)
	}
	// Muvinai has its own circuit, closed all along.
	e.addMuvinai("up", "pending", "not_paid", "0")
	e.mustCheck("muvinai", "up")
}

// Checks refused by an open circuit spend none of the provider's budget.
func TestOpenCircuitSpendsNoBudget(t *testing.T) {
	e := newEnv(t)
	e.startBridge(bridge.Config{BreakerThreshold: 1, BreakerCooldown: 200 * time.Millisecond,
		Limits: map[string]bridge.Rate{"coinbar": {N: 30, Per: time.Hour}}}) // a burst of 3 calls
	e.addCoinbar("outage", "PENDING", "")
	must(t, e.coinbar.Fault("outage", fake.Fault{Times: 4, Status: 503}))
	if r := e.check(map[string]any{"provider": "coinbar", "payment_id": "outage"}); r.Err == nil {
		t.Fatalf("first check: %s", r.Raw)
	}
	for range 10 {
		r := e.check(map[string]any{"provider": "coinbar", "payment_id": "outage"})
		if r.Err == nil || r.Err.Error.Code != paybridge.CodeProviderUnavailable {
			t.Fatalf("open circuit: %s", r.Raw)
		}
	}
	// One call of the burst is spent; the probe after the cooldown still
	// has budget.
	testkit.WaitFor(t, 5*time.Second, "the probe", func() bool {
		r := e.check(map[string]any{"provider": "coinbar", "payment_id": "outage"})
		if r.Err != nil && r.Err.Error.Code == paybridge.CodeProviderRateLimited {
			t.Fatalf("budget spent by refused checks: %s", r.Raw)
		}
		return r.OK != nil
	})
}
