package sim_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/cmd/paysim/sim"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/all"
	"github.com/paybridge/paybridge/providers/fake"
	"github.com/paybridge/paybridge/providers/muvinai"
)

// testCredentials serve every provider with made-up credentials.
var testCredentials = sim.MadeUpCredentials("test-")

func TestParseScenarioNamesTheProblem(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"coinbar": [], "stripe": []}`, `unknown provider "stripe"`},
		{`{"coinbar": [{"id": "a", "amount": 1, "currency": "EUR", "colour": "red", "steps": [{"status": "PENDING"}]}]}`, `unknown field "colour"`},
		{`{"coinbar": [{"id": "a", "amount": 1, "currency": "EUR", "steps": [{"status": "PENDING", "for": "soon"}]}]}`,
			`coinbar payment 1 (id "a"): step 1: for "soon" is not a positive duration`},
		{`{"muvinai": [{"id": "b", "amount": "1,5", "currency": "ARS", "steps": [{"status": "pending"}]}]}`,
			`muvinai payment 1 (id "b"): amount "1,5" is not a decimal number`},
		{`{"coinbar": [{"id": "b", "amount": 1, "crypto_amount": true, "currency": "EUR", "steps": [{"status": "PENDING"}]}]}`,
			`coinbar payment 1 (id "b"): crypto_amount: amount true is not a decimal number`},
		{`{"muvinai": [{"id": "b", "amount": 1, "currency": "ARS", "steps": [{"status": "pending", "amount_paid": "x"}]}]}`,
			`muvinai payment 1 (id "b"): step 1: amount_paid: amount "x" is not a decimal number`},
		{`{"muvinai": [{"id": "b", "amount": 1.5, "currency": "ARS", "steps": []}]}`,
			`muvinai payment 1 (id "b"): a payment needs at least one step`},
		{`{"muvinai": [{"id": "b", "amount": 1.5, "currency": "ARS", "steps": [{"detail": "x"}]}]}`,
			`muvinai payment 1 (id "b"): step 1 has no status`},
		{`{"coinbar": [{"id": "", "amount": 1, "currency": "EUR", "steps": [{"status": "PENDING"}]}]}`,
			`payment id must not be empty`},
		{`{"coinbar": [{"id": "a", "amount": 1, "steps": [{"status": "PENDING"}]}]}`,
			`coinbar payment 1 (id "a"): currency must not be empty`},
		{`{"coinbar": [{"id": "a", "currency": "EUR", "steps": [{"status": "PENDING"}]}]}`,
			`coinbar payment 1 (id "a"): amount must not be empty`},
		{`{"coinbar": [{"id": "a", "amount": 1, "currency": "EUR", "steps": [{"status": "PENDING", "calls": -1}]}]}`,
			`step 1: calls and for must not be negative`},
		{`{"coinbar": [{"id": "a", "amount": 1, "currency": "EUR", "steps": [{"status": "PENDING"}]},
		              {"id": "a", "amount": 2, "currency": "EUR", "steps": [{"status": "PENDING"}]}]}`,
			`coinbar payment 2 (id "a"): the id is used twice`},
		{`{} {}`, `unexpected data after the JSON object`},
		{`[`, `scenario: unexpected EOF`},
	}
	for _, c := range cases {
		_, _, err := sim.ParseScenario(strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n  error %v\n  want one containing %s", c.in, err, c.want)
		}
	}
}

// Generate is repeatable, and each provider draws from a stream of its
// own: a provider added to the list changes no other's payments. Whether
// the payments settle as they should is providertest.CheckDescriptor's
// (providers/all).
func TestGenerateIsRepeatableAndSettles(t *testing.T) {
	a, b := sim.Generate(40, "x-", 7), sim.Generate(40, "x-", 7)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed generated different payments")
	}
	if reflect.DeepEqual(a, sim.Generate(40, "x-", 8)) {
		t.Fatal("another seed generated the same payments")
	}
	for _, d := range all.List {
		payments := a[d.Name]
		if len(payments) != 40 || payments[0].ID != "x-"+d.Name+"-0001" || payments[39].ID != "x-"+d.Name+"-0040" {
			t.Fatalf("%s: %d payments, ids %q …", d.Name, len(payments), payments[0].ID)
		}
		for _, p := range payments {
			if err := p.Validate(); err != nil {
				t.Fatalf("%s: %v", p.ID, err)
			}
		}
		alone := sim.GenerateFor([]providers.Descriptor{d}, 40, "x-", 7)
		if !reflect.DeepEqual(alone[d.Name], payments) {
			t.Errorf("%s's payments depend on the other providers listed", d.Name)
		}
	}
}

func TestServeAnswersAndShutsDown(t *testing.T) {
	s, err := sim.New(sim.Config{
		Credentials: testCredentials, Scenario: sim.Generate(1, "", 1),
		LatencyMin: time.Millisecond, LatencyMax: 2 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()

	c, err := muvinai.New(base, testCredentials["muvinai"]["api-key"])
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Check(context.Background(), "muvinai-0001")
	if err != nil || got.Status != paybridge.StatusPending {
		t.Fatalf("Check: %+v, %v", got, err)
	}
	if status, body := get(t, base+"/healthz"); status != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", status, body)
	}
	if n := s.Fake("muvinai").Calls("muvinai-0001"); n != 1 {
		t.Fatalf("muvinai fake saw %d calls, want 1", n)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context was canceled")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("still answering after shutdown")
	}
}

func TestFaultRateOne(t *testing.T) {
	s, err := sim.New(sim.Config{Credentials: testCredentials, Scenario: sim.Generate(1, "", 1), FaultRate: 1, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s.Handler()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	seen := map[int]bool{}
	for range 40 {
		req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/payment_requests/muvinai-0001", nil)
		req.Header.Set("Authorization", "Bearer "+testCredentials["muvinai"]["api-key"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		seen[resp.StatusCode] = true
		if resp.StatusCode != 429 && resp.StatusCode < 500 {
			t.Fatalf("HTTP %d with a fault rate of 1", resp.StatusCode)
		}
	}
	if !seen[429] || len(seen) < 2 {
		t.Fatalf("statuses %v: want 429s and 5xx", seen)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	onlyMuvinai := map[string]providers.Credentials{"muvinai": {"api-key": "mv"}}
	cases := map[string]sim.Config{
		"no provider to serve": {},
		"fault rate":           {Credentials: testCredentials, FaultRate: 2},
		"latency":              {Credentials: testCredentials, LatencyMin: time.Second, LatencyMax: time.Millisecond},
		`coinbar: fake: payment "x"`: {Credentials: testCredentials,
			Scenario: sim.Scenario{"coinbar": {{ID: "x", Amount: "1", Currency: "EUR"}}}},
		`the scenario has 1 coinbar payments, but coinbar is not served: no api-key`: {Credentials: onlyMuvinai,
			Scenario: sim.Scenario{"coinbar": {{ID: "x", Amount: "1", Currency: "EUR", Steps: []fake.Step{{Status: "PENDING"}}}}}},
		`the scenario has payments for "stripe", which is no provider`: {Credentials: testCredentials,
			Scenario: sim.Scenario{"stripe": {{ID: "x", Amount: "1", Currency: "EUR", Steps: []fake.Step{{Status: "PENDING"}}}}}},
		`credentials for "stripe", which is no provider`: {Credentials: map[string]providers.Credentials{"stripe": {"key": "k"}}},
	}
	for want, cfg := range cases {
		if _, err := sim.New(cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want one naming %s", err, want)
		}
	}
}

// A provider without its required credentials is not served, which is
// no error: its paths answer 404 and it has no fake.
func TestProviderWithoutCredentialsIsNotServed(t *testing.T) {
	s, err := sim.New(sim.Config{Credentials: map[string]providers.Credentials{"muvinai": {"api-key": "mv"}, "coinbar": {"api-key": ""}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Served(); !slices.Equal(got, []string{"muvinai"}) || s.Fake("coinbar") != nil || s.Fake("muvinai") == nil {
		t.Fatalf("served %q, coinbar's fake %v", got, s.Fake("coinbar"))
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	cb, _ := all.Lookup("coinbar")
	if status, _ := get(t, srv.URL+cb.Sim.StatusPath("x")); status != http.StatusNotFound {
		t.Errorf("a provider not served answered %d, want 404", status)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
