package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/client"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers/fake"
)

// storedStatus polls the bridge's store through the client until the
// payment of account has the status want.
func storedStatus(t *testing.T, natsURL, account, id string, want paybridge.Status) {
	t.Helper()
	c, err := client.New(connect(t, natsURL))
	must(t, err)
	var opts []client.StatusOption
	if account != "" {
		opts = append(opts, client.Account(account))
	}
	testkit.WaitFor(t, 15*time.Second, "coinbar "+account+" "+id+" stored "+string(want), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		rep, err := c.Status(ctx, "coinbar", id, opts...)
		return err == nil && rep.Status == want
	})
}

// check --queued publishes to the durable intake and prints where the
// stream stored the check, or why it could not: no stream yet, an argument
// the bridge would refuse, a full stream. A check queued while no bridge
// runs is done by the next serve to start.
func TestCheckQueued(t *testing.T) {
	ns := startNATS(t)
	fk := startFakes(t)
	for _, id := range []string{"q-1", "q-2", "q-3"} {
		must(t, fk.coinbar.Add(fake.Payment{ID: id, Amount: "8.99", Currency: "EUR", Steps: []fake.Step{{Status: "SUCCESS"}}}))
	}
	env := testEnv("PAYBRIDGE_NATS_URL=" + ns.url)

	out, errOut, code := run(t, env, "check", "--queued", "coinbar", "q-1")
	want := "paybridge: no stream takes queued checks on payments.check.queued at " + ns.url +
		": a bridge creates PAYMENT_CHECKS when it starts; has paybridge serve run there?\n"
	if code != 1 || out != "" || errOut != want {
		t.Fatalf("check --queued before any bridge: exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, want)
	}

	s := startServe(t, fk.serveEnv(), "--nats-url", ns.url)
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, s.stderr)
	}
	// No bridge runs now; the stream it made keeps what is queued.
	out, errOut, code = run(t, env, "check", "--queued", "--watch", "--request-id", "sweep-1", "coinbar", "q-1")
	if code != 0 || out != "coinbar q-1: queued in PAYMENT_CHECKS, sequence 1\n" || errOut != "" {
		t.Fatalf("check --queued: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, _, code = run(t, env, "check", "--queued", "--json", "--max-age", "1m", "coinbar", "q-2")
	var ack jetstream.PubAck // what --json prints is the stream's PubAck
	if code != 0 || out != `{"stream":"PAYMENT_CHECKS","seq":2}`+"\n" || json.Unmarshal([]byte(out), &ack) != nil || ack.Sequence != 2 {
		t.Fatalf("check --queued --json: exit %d, stdout %q", code, out)
	}
	js := newJetStream(t, connect(t, ns.url))
	stream, err := js.Stream(background(t), "PAYMENT_CHECKS")
	must(t, err)
	msg, err := stream.GetMsg(background(t), 1)
	must(t, err)
	if got := string(msg.Data); got != `{"provider":"coinbar","payment_id":"q-1","watch":true,"request_id":"sweep-1"}` {
		t.Errorf("the stream holds %s", got)
	}

	// What the bridge would refuse is refused before anything is published.
	out, _, code = run(t, env, "check", "--queued", "coinbar", "..")
	if code != 1 || !strings.HasPrefix(out, `error: invalid_request: payment_id: ".." is a dot segment`) {
		t.Errorf("check --queued coinbar ..: exit %d, stdout %q", code, out)
	}
	// --subject is where the check goes.
	_, errOut, code = run(t, env, "check", "--queued", "--subject", "shop.payments.check.queued", "coinbar", "q-3")
	if code != 1 || !strings.Contains(errOut, "no stream takes queued checks on shop.payments.check.queued") {
		t.Errorf("check --queued --subject: exit %d, stderr %q", code, errOut)
	}

	// A full stream refuses the check, and says so.
	info, err := stream.Info(background(t))
	must(t, err)
	tiny := info.Config
	tiny.MaxMsgs = 2
	_, err = js.UpdateStream(background(t), tiny)
	must(t, err)
	out, _, code = run(t, env, "check", "--queued", "coinbar", "q-3")
	if want := "error: overloaded: stream PAYMENT_CHECKS is full (maximum messages exceeded); the check was not queued\n"; code != 1 || out != want {
		t.Errorf("check --queued to a full stream: exit %d, stdout %q; want %q", code, out, want)
	}
	out, _, code = run(t, env, "check", "--queued", "--json", "coinbar", "q-3")
	var refused paybridge.ErrorReply
	if code != 1 || json.Unmarshal([]byte(out), &refused) != nil || refused.Error.Code != paybridge.CodeOverloaded || !refused.Error.Retryable {
		t.Errorf("check --queued --json to a full stream: exit %d, stdout %q", code, out)
	}

	// The next bridge does what was queued.
	startServe(t, fk.serveEnv(), "--nats-url", ns.url)
	storedStatus(t, ns.url, "", "q-1", paybridge.StatusPaid)
	storedStatus(t, ns.url, "", "q-2", paybridge.StatusPaid)
	out, _, code = run(t, env, "status", "--json", "coinbar", "q-1")
	if rep := decodeReply(t, out, code); rep.Status != paybridge.StatusPaid || rep.Account != "" {
		t.Errorf("status of the queued check: %+v", rep)
	}
	testkit.WaitFor(t, 10*time.Second, "the stream empty", func() bool {
		info, err := stream.Info(background(t))
		must(t, err)
		return info.State.Msgs == 0
	})
}

// check and status take --account: the request names the merchant account,
// the reply shows it (JSON as received, and the text's payment name), the
// same payment id of the default account is another payment, and a name
// that cannot be an account's is a usage error naming the flag.
func TestAccountFlag(t *testing.T) {
	ns := startNATS(t)
	fk := startFakes(t)
	var provider fake.Accounts
	provider.Set("", fk.coinbar.Engine) // the default account's key
	shopA := mustFake(t, "cb-shop-a-SECRET")
	provider.Set("shop-a", shopA.Engine)
	srv := httptest.NewServer(&provider)
	t.Cleanup(srv.Close)
	must(t, fk.coinbar.Add(fake.Payment{ID: "order-1", Amount: "8.99", Currency: "EUR", Steps: []fake.Step{{Status: "PENDING"}}}))
	for _, id := range []string{"order-1", "order-2"} {
		must(t, shopA.Add(fake.Payment{ID: id, Amount: "20.00", Currency: "EUR", Steps: []fake.Step{{Status: "SUCCESS"}}}))
	}
	root := t.TempDir()
	writeAccountKey(t, root, "coinbar", "shop-a", "cb-shop-a-SECRET")
	startServe(t, fk.serveEnv(), "--nats-url", ns.url, "--coinbar-base-url", srv.URL, "--accounts-dir", root)
	env := testEnv("PAYBRIDGE_NATS_URL=" + ns.url)

	out, errOut, code := run(t, env, "check", "--account", "shop-a", "coinbar", "order-1")
	if code != 0 || !strings.HasPrefix(out, "coinbar/shop-a order-1: paid (first sight) changed event=") || errOut != "" {
		t.Fatalf("check --account shop-a: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, _, code = run(t, env, "check", "--json", "coinbar", "order-1")
	if rep := decodeReply(t, out, code); rep.Account != "" || rep.Status != paybridge.StatusPending || strings.Contains(out, `"account"`) {
		t.Errorf("check of the default account's order-1: %s", out)
	}
	out, _, code = run(t, env, "status", "--json", "--account", "shop-a", "coinbar", "order-1")
	if rep := decodeReply(t, out, code); rep.Account != "shop-a" || rep.Status != paybridge.StatusPaid || rep.Source != paybridge.SourceStore ||
		!strings.Contains(out, `"account":"shop-a"`) {
		t.Errorf("status --json --account shop-a: %s", out)
	}
	out, _, code = run(t, env, "status", "--account", "shop-a", "coinbar", "order-1")
	if code != 0 || !strings.HasPrefix(out, "coinbar/shop-a order-1: paid unchanged") {
		t.Errorf("status --account shop-a: exit %d, stdout %q", code, out)
	}
	out, _, code = run(t, env, "status", "coinbar", "order-1")
	if code != 0 || !strings.HasPrefix(out, "coinbar order-1: pending unchanged") {
		t.Errorf("status of the default account's order-1: exit %d, stdout %q", code, out)
	}
	out, _, code = run(t, env, "status", "--account", "shop-b", "coinbar", "order-1")
	if code != 1 || !strings.HasPrefix(out, "error: unknown_account: ") {
		t.Errorf("status --account shop-b: exit %d, stdout %q", code, out)
	}

	for _, args := range [][]string{
		{"check", "--account", "shop a", "coinbar", "order-1"},
		{"status", "--account", "shop/a", "coinbar", "order-1"},
		{"check", "--queued", "--account", strings.Repeat("a", 65), "coinbar", "order-1"},
	} {
		out, errOut, code := run(t, env, args...)
		if code != 2 || out != "" || !strings.HasPrefix(errOut, `paybridge: --account "`) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want a usage error naming --account", args, code, out, errOut)
		}
	}

	out, _, code = run(t, env, "check", "--queued", "--account", "shop-a", "coinbar", "order-2")
	if code != 0 || !strings.HasPrefix(out, "coinbar/shop-a order-2: queued in PAYMENT_CHECKS, sequence ") {
		t.Fatalf("check --queued --account shop-a: exit %d, stdout %q", code, out)
	}
	storedStatus(t, ns.url, "shop-a", "order-2", paybridge.StatusPaid)
	c, err := client.New(connect(t, ns.url))
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Status(ctx, "coinbar", "order-2"); !errors.Is(err, client.ErrPaymentNotFound) {
		t.Errorf("the default account's order-2 after shop-a's was queued: %v, want payment_not_found", err)
	}
}

// --help shows the flags of queued checks and accounts.
func TestCheckHelpShowsQueuedAndAccount(t *testing.T) {
	var help strings.Builder
	_ = NewMain().Run(t.Context(), []string{"check", "--help"}, &help, io.Discard)
	for _, want := range []string{"--queued", "--account string", "with --queued, payments.check.queued unless given"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("check --help lacks %q:\n%s", want, help.String())
		}
	}
}
