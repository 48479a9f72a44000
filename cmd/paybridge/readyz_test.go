package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers/fake"
)

// TestReadyzFollowsJetStream: with JetStream gone behind a connected NATS
// server, /readyz answers 503 naming JetStream and paybridge_ready is 0;
// once JetStream is back (the server restarted), both say ready again and
// checks are answered.
// /healthz stays 200 throughout: the process itself is fine.
func TestReadyzFollowsJetStream(t *testing.T) {
	ns, fk := startNATS(t), startFakes(t)
	must(t, fk.coinbar.Add(fake.Payment{ID: "order-js", Amount: "3.00", Currency: "EUR", Steps: []fake.Step{{Status: "SUCCESS"}}}))
	s := startServe(t, fk.serveEnv(), "--nats-url", ns.url)
	testkit.WaitFor(t, 10*time.Second, "paybridge_ready 1", func() bool { return readyGauge(t, s) == "1" })

	must(t, ns.srv.DisableJetStream())
	var body string
	testkit.WaitFor(t, 20*time.Second, "/readyz to answer 503 and paybridge_ready 0", func() bool {
		var code int
		code, body = httpGet(t, s.httpURL+"/readyz")
		return code == http.StatusServiceUnavailable && readyGauge(t, s) == "0"
	})
	if want := "not ready: JetStream did not answer within 1s\n"; body != want {
		t.Errorf("/readyz answered %q, want %q", body, want)
	}
	if code, _ := httpGet(t, s.adminURL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("the admin listener's /readyz answered %d without JetStream", code)
	}
	if code, _ := httpGet(t, s.httpURL+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz answered %d without JetStream", code)
	}

	// JetStream comes back with the server's restart on its port and
	// store: enabling it again on the running server races with its own
	// API handlers (nats-server 2.15).
	port := ns.port()
	ns.shutdown()
	ns.start(port)
	testkit.WaitFor(t, 20*time.Second, "/readyz to answer 200 and paybridge_ready 1 again", func() bool {
		code, _ := httpGet(t, s.httpURL+"/readyz")
		return code == http.StatusOK && readyGauge(t, s) == "1"
	})
	out, _, code := run(t, testEnv("PAYBRIDGE_NATS_URL="+ns.url), "check", "--json", "coinbar", "order-js")
	if rep := decodeReply(t, out, code); !rep.Changed || rep.Status != paybridge.StatusPaid {
		t.Errorf("a check once JetStream was back: %+v", rep)
	}
	if code := s.stop(); code != 0 {
		t.Errorf("serve exited %d after SIGTERM:\n%s", code, s.stderr)
	}
}
