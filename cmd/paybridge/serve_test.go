package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers/fake"
)

// TestServeEndToEnd runs serve against a NATS server and both provider
// fakes, and drives it with the built check, status and events commands.
func TestServeEndToEnd(t *testing.T) {
	ns, fk := startNATS(t), startFakes(t)
	s := startServe(t, fk.serveEnv(), "--nats-url", ns.url, "--pprof")
	client := func(args ...string) (string, string, int) {
		t.Helper()
		return run(t, testEnv("PAYBRIDGE_NATS_URL="+ns.url), args...)
	}

	follower := start(t, "paybridge", testEnv(), "events", "--nats-url", ns.url, "--json", "--all")
	testkit.WaitFor(t, 10*time.Second, "events to start", func() bool {
		return strings.Contains(follower.stderr.String(), "printing all events on payments.status.changed")
	})

	must(t, fk.coinbar.Add(fake.Payment{ID: "order-1", Amount: "8.99", Currency: "EUR",
		CryptoAmount: "0.00045145423250897323", CryptoCoin: "BTC", Steps: []fake.Step{{Status: "PENDING"}}}))
	must(t, fk.muvinai.Add(fake.Payment{ID: "pr-1", Amount: "15000.50", Currency: "ARS",
		Steps: []fake.Step{{Status: "approved", Detail: "correct", AmountPaid: "15000.50"}}}))

	out, errOut, code := client("check", "coinbar", "order-1")
	if code != 0 {
		t.Fatalf("check exited %d: %s%s", code, out, errOut)
	}
	wantLine(t, out, `^coinbar order-1: pending \(first sight\) changed event=\S+ revision=\d+$`)
	if !strings.Contains(out, "  provider status: PENDING\n  amount: 8.99 EUR  crypto: 0.00045145423250897323 BTC\n") {
		t.Errorf("check output lacks the provider's words and amounts:\n%s", out)
	}

	must(t, fk.coinbar.Set("order-1", fake.Step{Status: "SUCCESS"}))
	out, _, code = client("check", "--request-id", "req-7", "coinbar", "order-1")
	if code != 0 {
		t.Fatalf("second check exited %d: %s", code, out)
	}
	wantLine(t, out, `^coinbar order-1: paid \(was pending\) changed event=\S+ revision=\d+$`)

	out, _, code = client("check", "--json", "coinbar", "order-1")
	var rep paybridge.Reply
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil {
		t.Fatalf("check --json exited %d with %q", code, out)
	}
	if rep.Status != paybridge.StatusPaid || rep.Changed || rep.PreviousStatus == nil || *rep.PreviousStatus != paybridge.StatusPaid ||
		rep.CryptoAmount != "0.00045145423250897323" || rep.Amount != "8.99" {
		t.Errorf("check --json: %+v", rep)
	}

	must(t, fk.coinbar.Add(fake.Payment{ID: "order-2", Amount: "1.50", Currency: "EUR", Steps: []fake.Step{{Status: "PENDING"}}}))
	out, _, code = client("check", "--watch", "coinbar", "order-2")
	wantLine(t, out, `^coinbar order-2: pending \(first sight\) changed event=\S+ watching revision=\d+$`)

	out, _, code = client("check", "muvinai", "pr-1")
	wantLine(t, out, `^muvinai pr-1: paid \(first sight\) changed`)
	if code != 0 || !strings.Contains(out, "provider status: approved/correct\n  amount: 15000.50 ARS  paid: 15000.50\n") {
		t.Errorf("muvinai check exited %d:\n%s", code, out)
	}

	out, _, code = client("status", "coinbar", "order-1")
	wantLine(t, out, `^coinbar order-1: paid unchanged revision=\d+$`)
	if code != 0 || !strings.Contains(out, "(store)") {
		t.Errorf("status exited %d:\n%s", code, out)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "coinbar", "no-such-order"}, "error: payment_not_found: "},
		{[]string{"status", "muvinai", "never-checked"}, "error: payment_not_found: "},
		{[]string{"check", "paypal", "x"}, `error: unknown_provider: provider "paypal" is not configured`},
	} {
		out, errOut, code := client(c.args...)
		if code != 1 || !strings.HasPrefix(out, c.want) || errOut != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and %q", c.args, code, out, errOut, c.want)
		}
	}
	out, _, code = client("check", "--json", "coinbar", "no-such-order")
	var er paybridge.ErrorReply
	if code != 1 || json.Unmarshal([]byte(out), &er) != nil || er.Error.Code != paybridge.CodePaymentNotFound {
		t.Errorf("check --json of an unknown payment: exit %d, %q", code, out)
	}

	// A webhook is a trigger: the bridge then asks the provider.
	must(t, fk.muvinai.Add(fake.Payment{ID: "pr-2", Amount: "99.99", Currency: "ARS",
		Steps: []fake.Step{{Status: "approved", Detail: "correct", AmountPaid: "99.99"}}}))
	notification := `{"id":"n-1","event_type":"payment_request.approved","entity_type":"payment_request","entity_id":"pr-2","data":{"payment_request":{"id":"pr-2"}}}`
	if code, body := httpPost(t, s.httpURL+"/webhooks/muvinai?token="+webhookToken, notification); code != http.StatusOK {
		t.Errorf("muvinai webhook: %d %s", code, body)
	}
	if code, body := httpPost(t, s.httpURL+"/webhooks/muvinai?token=wrong", notification); code != http.StatusUnauthorized {
		t.Errorf("muvinai webhook with a wrong token: %d %s", code, body)
	}

	// Five changes, each printed once by the events command.
	var got []events.Event
	testkit.WaitFor(t, 10*time.Second, "five events", func() bool {
		got = got[:0]
		for _, line := range follower.stdout.Lines() {
			ev, err := events.Decode(nats.Header{"Content-Type": {events.ContentTypeCloudEvents}}, []byte(line))
			must(t, err)
			got = append(got, ev)
		}
		return len(got) >= 5
	})
	var seen []string
	for _, ev := range got {
		seen = append(seen, ev.Data.Provider+"/"+ev.Data.PaymentID+"→"+string(ev.Data.Status))
	}
	if want := "coinbar/order-1→pending coinbar/order-1→paid coinbar/order-2→pending muvinai/pr-1→paid muvinai/pr-2→paid"; strings.Join(seen, " ") != want {
		t.Errorf("events: %s, want %s", strings.Join(seen, " "), want)
	}

	code, body := httpGet(t, s.adminURL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics on --admin-listen: %d", code)
	}
	for _, name := range []string{
		"paybridge_checks_total", "paybridge_provider_requests_total", "paybridge_provider_request_duration_seconds",
		"paybridge_status_changes_total", "paybridge_kv_conflicts_total", "paybridge_publish_retries_total",
		"paybridge_reconciler_republished_total", "paybridge_inflight_checks", "go_goroutines", "process_cpu_seconds_total",
	} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if !strings.Contains(body, `paybridge_checks_total{outcome="changed",provider="coinbar"} 3`) {
		t.Errorf("/metrics does not count the three coinbar changes:\n%s", grep(body, "paybridge_checks_total"))
	}
	for _, base := range []string{s.httpURL, s.adminURL} {
		for _, probe := range []string{"/healthz", "/readyz"} {
			if code, _ := httpGet(t, base+probe); code != http.StatusOK {
				t.Errorf("%s%s: %d", base, probe, code)
			}
		}
	}
	if code, _ := httpGet(t, s.adminURL+"/debug/pprof/heap"); code != http.StatusOK {
		t.Errorf("--pprof: /debug/pprof/heap on --admin-listen answered %d", code)
	}
	// The webhook listener may face the internet: no metrics or profiles there.
	for _, path := range []string{"/metrics", "/debug/pprof/heap", "/debug/pprof/"} {
		if code, _ := httpGet(t, s.httpURL+path); code != http.StatusNotFound {
			t.Errorf("--http-listen answered %s with %d, want 404", path, code)
		}
	}
	// The command line may carry API keys: it is not served.
	if code, _ := httpGet(t, s.adminURL+"/debug/pprof/cmdline"); code == http.StatusOK {
		t.Error("--pprof serves /debug/pprof/cmdline")
	}

	if code := s.stop(); code != 0 {
		t.Errorf("serve exited %d after SIGTERM:\n%s", code, s.stderr)
	}
	if !strings.Contains(s.stderr.String(), `"providers":"coinbar,muvinai"`) {
		t.Errorf("serve did not log its providers:\n%s", s.stderr)
	}
	noSecrets(t, s.stderr.String(), s.stdout.String(), follower.stdout.String(), follower.stderr.String())
}

// TestReadyzFollowsNATS: /readyz answers 503 while the NATS server is
// down and 200 again once serve has reconnected; the paybridge_ready gauge
// says the same.
func TestReadyzFollowsNATS(t *testing.T) {
	ns, fk := startNATS(t), startFakes(t)
	s := startServe(t, fk.serveEnv(), "--nats-url", ns.url)
	testkit.WaitFor(t, 10*time.Second, "paybridge_ready 1", func() bool { return readyGauge(t, s) == "1" })

	port := ns.port()
	ns.shutdown()
	var body string
	testkit.WaitFor(t, 10*time.Second, "/readyz to answer 503 and paybridge_ready 0", func() bool {
		var code int
		code, body = httpGet(t, s.httpURL+"/readyz")
		return code == http.StatusServiceUnavailable && readyGauge(t, s) == "0"
	})
	if !strings.HasPrefix(body, "not ready: NATS connection ") {
		t.Errorf("/readyz gave no reason: %q", body)
	}
	if code, _ := httpGet(t, s.httpURL+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz answered %d while NATS was down", code)
	}
	if code, _ := httpGet(t, s.adminURL+"/debug/pprof/cmdline"); code != http.StatusNotFound {
		t.Errorf("without --pprof, /debug/pprof/cmdline answered %d", code)
	}

	ns.start(port)
	testkit.WaitFor(t, 20*time.Second, "/readyz to answer 200 and paybridge_ready 1 again", func() bool {
		code, _ := httpGet(t, s.httpURL+"/readyz")
		return code == http.StatusOK && readyGauge(t, s) == "1"
	})
	// nats.go runs its connection callbacks on a goroutine of their own:
	// the log line may follow the state /readyz reads.
	for _, msg := range []string{"NATS disconnected", "NATS reconnected"} {
		testkit.WaitFor(t, 5*time.Second, fmt.Sprintf("serve to log %q", msg), func() bool {
			_, ok := s.logged(msg)
			return ok
		})
	}
	if code := s.stop(); code != 0 {
		t.Errorf("serve exited %d after SIGTERM", code)
	}
}

// wantLine fails unless the first line of out matches the pattern.
func wantLine(t *testing.T, out, pattern string) {
	t.Helper()
	if !regexp.MustCompile(pattern).MatchString(firstLine(out)) {
		t.Errorf("first line %q does not match %s\nfull output:\n%s", firstLine(out), pattern, out)
	}
}

// grep returns the lines of s that contain word.
func grep(s, word string) string {
	var out []string
	scanLines(s, func(line string) {
		if strings.Contains(line, word) {
			out = append(out, line)
		}
	})
	return strings.Join(out, "\n")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
