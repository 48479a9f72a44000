package sim_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/cmd/paysim/sim"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/fake"
	"github.com/paybridge/paybridge/providers/muvinai"
)

func TestParseScenarioNamesTheProblem(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"coinbar": [], "stripe": []}`, `unknown field "stripe"`},
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
		_, err := sim.ParseScenario(strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n  error %v\n  want one containing %s", c.in, err, c.want)
		}
	}
}
func TestGenerateIsRepeatableAndSettles(t *testing.T) {
	a, b := sim.Generate(40, "x-", 7), sim.Generate(40, "x-", 7)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed generated different payments")
	}
	if reflect.DeepEqual(a, sim.Generate(40, "x-", 8)) {
		t.Fatal("another seed generated the same payments")
	}
	if a.Coinbar[0].ID != "x-coinbar-0001" || a.Muvinai[39].ID != "x-muvinai-0040" {
		t.Fatalf("ids %q, %q", a.Coinbar[0].ID, a.Muvinai[39].ID)
	}
	check := func(name string, payments []fake.Payment, normalize func(status, detail string) paybridge.Status) {
		endings := map[paybridge.Status]int{}
		for _, p := range payments {
			if err := p.Validate(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			first, last := p.Steps[0], p.Steps[len(p.Steps)-1]
			if s := normalize(first.Status, first.Detail); s != paybridge.StatusPending {
				t.Errorf("%s %s starts %s, want pending", name, p.ID, s)
			}
			if first.For < 5*time.Second {
				t.Errorf("%s %s is pending only %s", name, p.ID, first.For)
			}
			s := normalize(last.Status, last.Detail)
			if !s.Terminal() {
				t.Errorf("%s %s ends %s, want a terminal status", name, p.ID, s)
			}
			endings[s]++
			for _, step := range p.Steps {
				if normalize(step.Status, step.Detail) == paybridge.StatusUnknown {
					t.Errorf("%s %s has a step the mapping does not know: %+v", name, p.ID, step)
				}
			}
		}
		if endings[paybridge.StatusPaid] == 0 || len(endings) < 3 {
			t.Errorf("%s endings %v: want mostly paid and a spread of others", name, endings)
		}
	}
	check("coinbar", a.Coinbar, coinbar.Normalize)
	check("muvinai", a.Muvinai, muvinai.Normalize)
}

func TestServeAnswersAndShutsDown(t *testing.T) {
	s, err := sim.New(sim.Config{
		CoinbarClientID: "cb", MuvinaiAPIKey: "mv", Scenario: sim.Generate(1, "", 1),
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

	c, err := muvinai.New(base, "mv")
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
	if n := s.Muvinai().Calls("muvinai-0001"); n != 1 {
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
	s, err := sim.New(sim.Config{CoinbarClientID: "cb", MuvinaiAPIKey: "mv", Scenario: sim.Generate(1, "", 1), FaultRate: 1, Seed: 3})
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
		req.Header.Set("Authorization", "Bearer mv")
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
	cases := map[string]sim.Config{
		"coinbar fake: client id":    {MuvinaiAPIKey: "mv"},
		"muvinai fake: api key":      {CoinbarClientID: "cb"},
		"fault rate":                 {CoinbarClientID: "cb", MuvinaiAPIKey: "mv", FaultRate: 2},
		"latency":                    {CoinbarClientID: "cb", MuvinaiAPIKey: "mv", LatencyMin: time.Second, LatencyMax: time.Millisecond},
		`coinbar: fake: payment "x"`: {CoinbarClientID: "cb", MuvinaiAPIKey: "mv", Scenario: sim.Scenario{Coinbar: []fake.Payment{{ID: "x", Amount: "1", Currency: "EUR"}}}},
	}
	for want, cfg := range cases {
		if _, err := sim.New(cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want one naming %s", err, want)
		}
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
