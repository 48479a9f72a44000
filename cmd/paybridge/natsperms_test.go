package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge/client"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers/fake"
)

// The users of deploy/nats/nats-server.conf, as the test sets their
// passwords through the environment the config reads them from.
const (
	bridgeNATSPassword = "bridge-pw-SECRET"
	clientNATSPassword = "client-pw-SECRET"
)

// startLeastPrivilegeNATS runs a NATS server with the users and
// permissions of the repository's configuration (the rest of it, port,
// monitoring and store directory, is the test's), on a free port with its
// own store.
func startLeastPrivilegeNATS(t *testing.T) (bridgeURL, clientURL string) {
	t.Helper()
	t.Setenv("PAYBRIDGE_NATS_PASSWORD", bridgeNATSPassword)
	t.Setenv("PAYBRIDGE_CLIENT_PASSWORD", clientNATSPassword)
	conf, err := natsserver.ProcessConfigFile("../../deploy/nats/nats-server.conf")
	if err != nil {
		t.Fatalf("deploy/nats/nats-server.conf: %v", err)
	}
	if len(conf.Users) != 2 {
		t.Fatalf("deploy/nats/nats-server.conf has %d users, want paybridge and client", len(conf.Users))
	}
	ns := startNATSWith(t, func(o *natsserver.Options) { o.Users = conf.Users })
	return ns.urlWith("paybridge:" + bridgeNATSPassword), ns.urlWith("client:" + clientNATSPassword)
}

// serve and the client commands work under exactly the permissions of the
// repository's NATS configuration, and a client cannot write statuses or
// watch orders.
func TestLeastPrivilegeNATSUsers(t *testing.T) {
	bridgeURL, clientURL := startLeastPrivilegeNATS(t)
	f := startFakes(t)
	must(t, f.coinbar.Add(fake.Payment{ID: "perm-1", Amount: "8.99", Currency: "EUR", Steps: []fake.Step{{Status: "PENDING"}}}))
	s := startServe(t, f.serveEnv(), "--nats-url", bridgeURL, "--watch-schedule", "200ms")

	follower := start(t, "paybridge", testEnv(), "events", "--nats-url", clientURL)
	testkit.WaitFor(t, 10*time.Second, "events to follow the stream", func() bool {
		return strings.Contains(follower.stderr.String(), "printing new events")
	})
	out, errOut, code := run(t, testEnv(), "check", "--watch", "--nats-url", clientURL, "coinbar", "perm-1")
	if code != 0 || !strings.Contains(out, "pending") {
		t.Fatalf("check as client: exit %d\n%s\n%s", code, out, errOut)
	}
	// The watch's check of the paid payment (a slow 503, then a slow
	// answer: 12 s) outlasts a third of the watch ack wait (10 s), so the
	// bridge keeps the delivery alive (InProgress) before it acks: a second
	// answer to one delivery, which allow_responses does not cover and only
	// the $JS.ACK.PAYMENT_WATCHES grant allows.
	must(t, f.coinbar.Fault("perm-1", fake.Fault{Times: 1, Delay: 9 * time.Second, Status: 503}))
	must(t, f.coinbar.Fault("perm-1", fake.Fault{Times: 1, Delay: 3 * time.Second}))
	must(t, f.coinbar.Set("perm-1", fake.Step{Status: "SUCCESS"}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serve:\n%s\nevents:\n%s\n%s", s.stderr, follower.stdout, follower.stderr)
		}
	})
	testkit.WaitFor(t, 25*time.Second, "the watch to publish paid", func() bool {
		return strings.Contains(follower.stdout.String(), "pending → paid")
	})
	out, errOut, code = run(t, testEnv(), "status", "--nats-url", clientURL, "coinbar", "perm-1")
	if code != 0 || !strings.Contains(out, "paid") {
		t.Fatalf("status as client: exit %d\n%s\n%s", code, out, errOut)
	}

	// The client user may not write a status or a watch order, nor
	// publish an event.
	var mu sync.Mutex
	var violations []string
	nc, err := nats.Connect(clientURL, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		mu.Lock()
		violations = append(violations, err.Error())
		mu.Unlock()
	}))
	must(t, err)
	defer nc.Close()
	forbidden := []string{"paybridge.watch.coinbar.perm-1", "$KV.payment_status.coinbar.perm-1", "payments.status.changed"}
	for _, subject := range forbidden {
		if err := nc.Publish(subject, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	testkit.WaitFor(t, 5*time.Second, "a permission violation for each forbidden publish", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(violations) == len(forbidden)
	})
	for i, v := range violations {
		if !strings.Contains(strings.ToLower(v), "permissions violation") {
			t.Fatalf("publish %d: %s", i, v)
		}
	}
	// Nothing of it arrived: the stored status is still paid.
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.KeyValue(t.Context(), "payment_status"); err == nil {
		t.Fatal("the client user can open the status bucket")
	}

	// A service reading the events through the client package with a
	// durable consumer: its acks need the $JS.ACK.PAYMENT_EVENTS grant.
	sc, err := nats.Connect(clientURL)
	must(t, err)
	defer sc.Close()
	c, err := client.New(sc)
	must(t, err)
	handled := make(chan string, 2)
	sub, err := c.Subscribe(t.Context(), "perm-billing", func(_ context.Context, ev events.Event) error {
		handled <- string(ev.Data.Status)
		return nil
	}, client.OnError(func(err error) { t.Errorf("subscriber as client: %v", err) }))
	must(t, err)
	defer sub.Stop()
	cons, err := jetstream.New(sc)
	must(t, err)
	testkit.WaitFor(t, 10*time.Second, "the client's durable consumer to acknowledge both events", func() bool {
		c, err := cons.Consumer(t.Context(), client.DefaultEventStream, "perm-billing")
		must(t, err)
		info := c.CachedInfo()
		return info.AckFloor.Consumer == 2 && info.NumAckPending == 0 && info.NumPending == 0
	})
	if got := []string{<-handled, <-handled}; got[0] != "pending" || got[1] != "paid" {
		t.Errorf("the subscriber handled %v, want [pending paid]", got)
	}

	// The bridge itself never hit a permission it lacks: read once serve
	// has stopped, so that its last lines are in.
	if code := s.stop(); code != 0 {
		t.Errorf("serve exited %d", code)
	}
	for _, line := range s.stderr.Lines() {
		if strings.Contains(strings.ToLower(line), "permissions violation") {
			t.Fatalf("serve ran into a missing permission: %s", line)
		}
	}
	noSecrets(t, s.stderr.String(), s.stdout.String(), follower.stdout.String(), follower.stderr.String())
}
