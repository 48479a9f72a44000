package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers/fake"
)

// TestRestartKeepsStatus: with the embedded NATS server, the stored
// status survives a restart of serve, and checking the same status again
// publishes nothing.
func TestRestartKeepsStatus(t *testing.T) {
	fk := startFakes(t)
	must(t, fk.coinbar.Add(fake.Payment{ID: "order-9", Amount: "8.99", Currency: "EUR", Steps: []fake.Step{{Status: "SUCCESS"}}}))
	dataDir := t.TempDir()
	s := startServe(t, fk.serveEnv(), "--embedded-listen", "127.0.0.1:-1", "--data-dir", dataDir)
	natsURL := s.natsURL
	client := testEnv("PAYBRIDGE_NATS_URL=" + natsURL)

	out, _, code := run(t, client, "check", "--json", "coinbar", "order-9")
	first := decodeReply(t, out, code)
	if !first.Changed || first.Status != paybridge.StatusPaid {
		t.Fatalf("first check: %+v", first)
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, s.stderr)
	}

	u, err := url.Parse(natsURL)
	must(t, err)
	s = startServe(t, fk.serveEnv(), "--embedded-listen", u.Host, "--data-dir", dataDir)
	if s.natsURL != natsURL {
		t.Fatalf("embedded NATS moved from %s to %s", natsURL, s.natsURL)
	}
	out, _, code = run(t, client, "status", "--json", "coinbar", "order-9")
	stored := decodeReply(t, out, code)
	if stored.Status != paybridge.StatusPaid || stored.Revision != first.Revision || stored.Source != paybridge.SourceStore {
		t.Errorf("after the restart the store says %+v, want paid at revision %d", stored, first.Revision)
	}
	out, _, code = run(t, client, "check", "--json", "coinbar", "order-9")
	again := decodeReply(t, out, code)
	if again.Changed || again.Status != paybridge.StatusPaid || again.Revision != first.Revision {
		t.Errorf("re-check after the restart: %+v", again)
	}
	calls := fk.coinbar.Calls("order-9")
	out, _, code = run(t, client, "check", "--json", "--max-age", "1h", "--request-id", "req-9", "coinbar", "order-9")
	if fresh := decodeReply(t, out, code); fresh.Source != paybridge.SourceStore || fresh.RequestID != "req-9" || fk.coinbar.Calls("order-9") != calls {
		t.Errorf("a check with --max-age 1h asked the provider or lost its request id: %+v", fresh)
	}

	nc, err := nats.Connect(s.natsURL)
	must(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	must(t, err)
	stream, err := js.Stream(background(t), "PAYMENT_EVENTS")
	must(t, err)
	info, err := stream.Info(background(t))
	must(t, err)
	if info.State.Msgs != 1 {
		t.Errorf("the event stream holds %d events, want the one of the first check", info.State.Msgs)
	}
	if code := s.stop(); code != 0 {
		t.Errorf("serve exited %d", code)
	}
}

// TestDrainAnswersInflight: SIGTERM while checks wait on a slow provider
// lets every one of them finish and be answered, then serve exits 0.
func TestDrainAnswersInflight(t *testing.T) {
	ns, fk := startNATS(t), startFakes(t)
	const n = 5
	for i := range n {
		id := fmt.Sprintf("slow-%d", i)
		must(t, fk.coinbar.Add(fake.Payment{ID: id, Amount: "1.00", Currency: "EUR", Steps: []fake.Step{{Status: "PENDING"}}}))
		must(t, fk.coinbar.Fault(id, fake.Fault{Times: 1, Delay: time.Second}))
	}
	s := startServe(t, fk.serveEnv(), "--nats-url", ns.url)
	nc, err := nats.Connect(ns.url)
	must(t, err)
	defer nc.Close()

	var wg sync.WaitGroup
	replies := make([]*nats.Msg, n)
	errs := make([]error, n)
	for i := range n {
		body := fmt.Appendf(nil, `{"provider":"coinbar","payment_id":"slow-%d"}`, i)
		wg.Go(func() { replies[i], errs[i] = nc.Request("payments.check", body, 20*time.Second) })
	}
	testkit.WaitFor(t, 10*time.Second, "every check to reach the provider", func() bool {
		for i := range n {
			if fk.coinbar.Calls(fmt.Sprintf("slow-%d", i)) == 0 {
				return false
			}
		}
		return true
	})
	if code := s.stop(); code != 0 {
		t.Errorf("serve exited %d after SIGTERM:\n%s", code, s.stderr)
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("check %d: %v", i, errs[i])
			continue
		}
		var rep paybridge.Reply
		if replies[i].Header.Get("Nats-Service-Error-Code") != "" || json.Unmarshal(replies[i].Data, &rep) != nil || rep.Status != paybridge.StatusPending {
			t.Errorf("check %d answered %s", i, replies[i].Data)
		}
	}
	if _, ok := s.logged("stopped"); !ok || !strings.Contains(s.stderr.String(), "shutting down") {
		t.Errorf("serve did not log its shutdown:\n%s", s.stderr)
	}
	if _, err := nc.Request("payments.check", []byte(`{"provider":"coinbar","payment_id":"slow-0"}`), time.Second); err != nats.ErrNoResponders {
		t.Errorf("after the drain a check got %v, want no responders", err)
	}
}

// decodeReply reads the JSON of a successful check or status command.
func decodeReply(t *testing.T, out string, code int) paybridge.Reply {
	t.Helper()
	var rep paybridge.Reply
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil {
		t.Fatalf("exit %d, output %q", code, out)
	}
	return rep
}

// TestServeWaitsForNATS: serve may start before its NATS server (as in
// compose): it answers /healthz, says why it is not ready, and starts the
// bridge once the server is up.
func TestServeWaitsForNATS(t *testing.T) {
	fk := startFakes(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	p := start(t, "paybridge", fk.serveEnv(), "serve", "--nats-url", fmt.Sprintf("nats://127.0.0.1:%d", port),
		"--http-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log-format", "json")
	var listening logLine
	testkit.WaitFor(t, 10*time.Second, "serve to listen on HTTP", func() bool {
		var ok bool
		listening, ok = p.logged("HTTP listening")
		return ok
	})
	base := "http://" + listening.Addr
	testkit.WaitFor(t, 10*time.Second, "serve to wait for NATS", func() bool {
		_, ok := p.logged("waiting for NATS")
		return ok
	})
	if code, body := httpGet(t, base+"/readyz"); code != http.StatusServiceUnavailable || body != "not ready: starting\n" {
		t.Errorf("/readyz before NATS: %d %q", code, body)
	}
	if code, _ := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz before NATS: %d", code)
	}
	// A webhook cannot be taken yet: 503, with the JSON error every
	// webhook answer has.
	resp, err := http.Post(base+"/webhooks/coinbar", "application/json", strings.NewReader(`{"payment_request_id_client":"p"}`))
	must(t, err)
	hook, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	must(t, err)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Content-Type") != "application/json" ||
		strings.TrimSpace(string(hook)) != `{"error":"not ready: starting"}` {
		t.Errorf("a webhook before NATS: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), hook)
	}

	ns := &natsServer{t: t, storeDir: t.TempDir()}
	ns.start(port)
	t.Cleanup(ns.shutdown)
	testkit.WaitFor(t, 20*time.Second, "/readyz to answer 200", func() bool {
		code, _ := httpGet(t, base+"/readyz")
		return code == http.StatusOK
	})
	if code := p.stop(); code != 0 {
		t.Errorf("serve exited %d:\n%s", code, p.stderr)
	}
}

// userPass makes a NATS server admit one user with the given password.
func userPass(password string) func(*natsserver.Options) {
	return func(o *natsserver.Options) { o.Username, o.Password = "bridge", password }
}

// TestServeExitsWhenNATSCloses: once nats.go closes the connection for
// good (here: the server's password changed, so it refuses the bridge
// twice in a row), serve exits non-zero and says why, instead of idling.
func TestServeExitsWhenNATSCloses(t *testing.T) {
	ns := startNATSWith(t, userPass("old-SECRET"))
	s := startServe(t, startFakes(t).serveEnv(), "--nats-url", ns.urlWith("bridge:old-SECRET"))

	ns.auth = userPass("new-SECRET")
	must(t, ns.srv.ReloadOptions(ns.options(ns.port()))) // disconnects clients no longer authorized
	if code := s.wait(20 * time.Second); code != 1 {
		t.Errorf("serve exited %d after NATS closed its connection, want 1", code)
	}
	if !strings.Contains(s.stderr.String(), "paybridge: NATS connection closed: nats: Authorization Violation\n") {
		t.Errorf("serve did not say why it exited:\n%s", s.stderr)
	}
	if _, ok := s.logged("exiting: the NATS connection is closed and will not reconnect"); !ok {
		t.Errorf("serve did not log the closed connection:\n%s", s.stderr)
	}
	noSecrets(t, s.stderr.String(), s.stdout.String())
}

// TestServeRefusedAtStart: credentials the server refuses at start make
// serve exit non-zero, instead of waiting for NATS for ever.
func TestServeRefusedAtStart(t *testing.T) {
	ns := startNATSWith(t, userPass("right-SECRET"))
	p := start(t, "paybridge", startFakes(t).serveEnv(), "serve", "--nats-url", ns.urlWith("bridge:wrong-SECRET"),
		"--http-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log-format", "json")
	if code := p.wait(20 * time.Second); code != 1 {
		t.Errorf("serve exited %d, want 1", code)
	}
	if want := ": NATS connection closed: nats: Authorization Violation\n"; !strings.HasSuffix(p.stderr.String(), want) {
		t.Errorf("stderr does not end with %q:\n%s", want, p.stderr)
	}
	noSecrets(t, p.stderr.String(), p.stdout.String())
}

// TestHealthzFailsOnceNATSClosed: /healthz stops answering ok once the
// NATS connection is closed for good.
func TestHealthzFailsOnceNATSClosed(t *testing.T) {
	ns := startNATS(t)
	nc, err := nats.Connect(ns.url)
	must(t, err)
	s := &server{log: slog.New(slog.DiscardHandler), failed: make(chan error, 1)}
	nc.SetClosedHandler(s.natsClosed)
	h := httptest.NewServer(s.webhookRoutes())
	defer h.Close()
	if code, _ := httpGet(t, h.URL+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz with NATS connected: %d", code)
	}
	nc.Close()
	testkit.WaitFor(t, 5*time.Second, "/healthz to fail", func() bool {
		code, _ := httpGet(t, h.URL+"/healthz")
		return code == http.StatusServiceUnavailable
	})
	if err := <-s.failed; err == nil || err.Error() != "NATS connection closed" {
		t.Errorf("serve was told %v, want the connection closed", err)
	}
}
