package main

import (
	"errors"
	"slices"
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

// The passwords of the users of deploy/nats (users.conf and accounts.conf),
// which the tests set through the environment the configurations read
// them from.
const (
	bridgeNATSPassword   = "bridge-pw-SECRET"
	clientNATSPassword   = "client-pw-SECRET"
	billingNATSPassword  = "billing-pw-SECRET"
	shippingNATSPassword = "shipping-pw-SECRET"
)

// setNATSPasswords sets the variables deploy/nats reads the passwords from.
func setNATSPasswords(t *testing.T) {
	t.Setenv("PAYBRIDGE_NATS_PASSWORD", bridgeNATSPassword)
	t.Setenv("PAYBRIDGE_CLIENT_PASSWORD", clientNATSPassword)
	t.Setenv("PAYBRIDGE_BILLING_PASSWORD", billingNATSPassword)
	t.Setenv("PAYBRIDGE_SHIPPING_PASSWORD", shippingNATSPassword)
}

// leastPrivilegeNATS is the URL of each user of the single-account
// configuration.
type leastPrivilegeNATS struct {
	bridge, client, billing, shipping string
}

// startLeastPrivilegeNATS runs a NATS server with the users and
// permissions of the repository's configuration (the rest of it, port,
// monitoring and store directory, is the test's), on a free port with its
// own store.
func startLeastPrivilegeNATS(t *testing.T) leastPrivilegeNATS {
	t.Helper()
	setNATSPasswords(t)
	conf, err := natsserver.ProcessConfigFile("../../deploy/nats/nats-server.conf")
	if err != nil {
		t.Fatalf("deploy/nats/nats-server.conf: %v", err)
	}
	var names []string
	for _, u := range conf.Users {
		names = append(names, u.Username)
	}
	if slices.Sort(names); !slices.Equal(names, []string{"billing", "client", "paybridge", "shipping"}) {
		t.Fatalf("deploy/nats/nats-server.conf has users %q, want paybridge, client, billing and shipping", names)
	}
	ns := startNATSWith(t, func(o *natsserver.Options) { o.Users = conf.Users })
	return leastPrivilegeNATS{
		bridge:   ns.urlWith("paybridge:" + bridgeNATSPassword),
		client:   ns.urlWith("client:" + clientNATSPassword),
		billing:  ns.urlWith("billing:" + billingNATSPassword),
		shipping: ns.urlWith("shipping:" + shippingNATSPassword),
	}
}

// serve and the client commands work under exactly the permissions of the
// repository's NATS configuration, a service reads the events with its own
// durable consumer, and a client cannot write statuses or watch orders nor
// use the JetStream consumer API.
func TestLeastPrivilegeNATSUsers(t *testing.T) {
	urls := startLeastPrivilegeNATS(t)
	f := startFakes(t)
	must(t, f.coinbar.Add(fake.Payment{ID: "perm-1", Amount: "8.99", Currency: "EUR", Steps: []fake.Step{{Status: "PENDING"}}}))
	s := startServe(t, f.serveEnv(), "--nats-url", urls.bridge, "--watch-schedule", "200ms")

	// The client user follows the events with a core subscription.
	var mu sync.Mutex
	var violations []string
	nc, err := nats.Connect(urls.client, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		mu.Lock()
		violations = append(violations, err.Error())
		mu.Unlock()
	}))
	must(t, err)
	defer nc.Close()
	changes, err := nc.SubscribeSync(client.DefaultStatusChangedSubject)
	must(t, err)
	must(t, nc.Flush())

	// And so does `paybridge events --core`.
	follower := start(t, "paybridge", testEnv(), "events", "--core", "--nats-url", urls.client)
	testkit.WaitFor(t, 10*time.Second, "events to subscribe", func() bool {
		return strings.Contains(follower.stderr.String(), "printing new events")
	})

	out, errOut, code := run(t, testEnv(), "check", "--watch", "--nats-url", urls.client, "coinbar", "perm-1")
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
			t.Logf("serve:\n%s", s.stderr)
		}
	})
	var seen []string
	for len(seen) < 2 {
		m, err := changes.NextMsg(25 * time.Second)
		if err != nil {
			t.Fatalf("the client's core subscription saw %v, then: %v", seen, err)
		}
		ev, err := events.DecodeMsg(m)
		must(t, err)
		seen = append(seen, string(ev.Data.Status))
	}
	if seen[0] != "pending" || seen[1] != "paid" {
		t.Errorf("the client's core subscription saw %v, want [pending paid]", seen)
	}
	testkit.WaitFor(t, 5*time.Second, "events --core to print both", func() bool {
		return strings.Contains(follower.stdout.String(), "pending → paid")
	})
	out, errOut, code = run(t, testEnv(), "status", "--nats-url", urls.client, "coinbar", "perm-1")
	if code != 0 || !strings.Contains(out, "paid") {
		t.Fatalf("status as client: exit %d\n%s\n%s", code, out, errOut)
	}

	// The client user may not write a status or a watch order, nor
	// publish an event, nor use the consumer API of PAYMENT_EVENTS.
	forbidden := []string{"paybridge.watch.coinbar.perm-1", "$KV.payment_status.coinbar.perm-1", "payments.status.changed",
		"$JS.API.CONSUMER.CREATE.PAYMENT_EVENTS.tail", "$JS.API.CONSUMER.MSG.NEXT.PAYMENT_EVENTS.billing"}
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

	// A service reading the events through the client package with its
	// durable consumer, as its own user: its acks need the
	// $JS.ACK.PAYMENT_EVENTS.billing grant, its inboxes its prefix.
	sc := connect(t, urls.billing, nats.CustomInboxPrefix("_INBOX_billing"))
	handled := subscribe(t, sc, "billing")
	cons := newJetStream(t, sc)
	testkit.WaitFor(t, 10*time.Second, "billing's durable consumer to acknowledge both events", func() bool {
		c, err := cons.Consumer(t.Context(), client.DefaultEventStream, "billing")
		must(t, err)
		info := c.CachedInfo()
		return info.AckFloor.Consumer == 2 && info.NumAckPending == 0 && info.NumPending == 0
	})
	if got := handled.statuses(); !slices.Equal(got, []string{"perm-1:pending", "perm-1:paid"}) {
		t.Errorf("billing's subscriber handled %v, want pending then paid", got)
	}
	if errs := handled.reported(); len(errs) > 0 {
		t.Errorf("billing's subscriber reported %v", errs)
	}

	// The reconciler reads the outbox's notes by subject (none are left
	// here): the bridge's user may.
	bc := connect(t, urls.bridge)
	outbox, err := newJetStream(t, bc).Stream(t.Context(), "PAYMENT_OUTBOX")
	must(t, err)
	if _, err := outbox.GetMsg(t.Context(), 1, jetstream.WithGetMsgSubject("paybridge.outbox.>")); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("reading the outbox as the bridge's user: %v, want no message", err)
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
	noSecrets(t, s.stderr.String(), s.stdout.String())
}

// TestLeastPrivilegeNATSDurablesPerService: with the single-account users,
// the shipping user cannot fetch from, ack, change or delete billing's
// durable consumer, nor subscribe to billing's inboxes, and the other way
// round; each uses its own.
func TestLeastPrivilegeNATSDurablesPerService(t *testing.T) {
	urls := startLeastPrivilegeNATS(t)
	f := startFakes(t)
	must(t, f.coinbar.Add(fake.Payment{ID: "dur-1", Amount: "8.99", Currency: "EUR", Steps: []fake.Step{{Status: "PENDING"}}}))
	startServe(t, f.serveEnv(), "--nats-url", urls.bridge)

	var mu sync.Mutex
	var violations []string
	shipping := connect(t, urls.shipping, nats.CustomInboxPrefix("_INBOX_shipping"), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		mu.Lock()
		violations = append(violations, err.Error())
		mu.Unlock()
	}))
	// billing's refused attempts on shipping's durable are the test's.
	billing := connect(t, urls.billing, nats.CustomInboxPrefix("_INBOX_billing"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	checkDurablesPerService(t, f, billing, shipping)

	// Nor can shipping read what is delivered to billing's inboxes, nor to
	// the default ones.
	mu.Lock()
	violations = nil
	mu.Unlock()
	for _, subject := range []string{"_INBOX_billing.>", "_INBOX.>"} {
		_, err := shipping.SubscribeSync(subject)
		must(t, err)
	}
	testkit.WaitFor(t, 5*time.Second, "a permission violation for each subscription to another's inboxes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, v := range violations {
			if strings.Contains(strings.ToLower(v), "permissions violation for subscription") {
				n++
			}
		}
		return n == 2
	})
}
