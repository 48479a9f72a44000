package main

import (
	"bufio"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/client"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers/fake"
)

// accountsNATS is a NATS server run with the accounts of
// deploy/nats/nats-server-accounts.conf, and the URL of each of its users.
type accountsNATS struct {
	bridge, client, billing, shipping string
}

// startAccountsNATS runs a NATS server with the accounts, users, exports
// and imports of the repository's recommended configuration (the rest of
// it, port, monitoring and store directory, is the test's).
func startAccountsNATS(t *testing.T) accountsNATS {
	t.Helper()
	setNATSPasswords(t)
	conf, err := natsserver.ProcessConfigFile("../../deploy/nats/nats-server-accounts.conf")
	if err != nil {
		t.Fatalf("deploy/nats/nats-server-accounts.conf: %v", err)
	}
	accountOf := map[string]string{}
	for _, u := range conf.Users {
		accountOf[u.Username] = u.Account.Name
	}
	want := map[string]string{"paybridge": "PAYBRIDGE", "client": "CLIENTS", "billing": "BILLING", "shipping": "SHIPPING"}
	if !reflect.DeepEqual(accountOf, want) {
		t.Fatalf("the users' accounts are %v, want %v", accountOf, want)
	}
	// The bridge keeps the permissions of the single-account option.
	single, err := natsserver.ProcessConfigFile("../../deploy/nats/nats-server.conf")
	must(t, err)
	if got, want := userPermissions(t, conf, "paybridge"), userPermissions(t, single, "paybridge"); !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Errorf("user paybridge: accounts.conf grants\n%s\nusers.conf grants\n%s", g, w)
	}
	ns := startNATSWith(t, func(o *natsserver.Options) {
		o.Accounts, o.Users = conf.Accounts, conf.Users
		// JetStream's own limits: its defaults follow the process's soft
		// memory limit, which an in-process serve of another test may
		// have set lower than the accounts' JetStream limits.
		o.JetStreamMaxMemory, o.JetStreamMaxStore = 1<<30, 16<<30
	})
	return accountsNATS{
		bridge:   ns.urlWith("paybridge:" + bridgeNATSPassword),
		client:   ns.urlWith("client:" + clientNATSPassword),
		billing:  ns.urlWith("billing:" + billingNATSPassword),
		shipping: ns.urlWith("shipping:" + shippingNATSPassword),
	}
}

func userPermissions(t *testing.T, opts *natsserver.Options, name string) *natsserver.Permissions {
	t.Helper()
	for _, u := range opts.Users {
		if u.Username == name {
			return u.Permissions
		}
	}
	t.Fatalf("no user %s", name)
	return nil
}

// requestsCounted is the sum of serve's paybridge_requests_total series
// whose labels include every one of labels (such as `endpoint="lookup"`).
func requestsCounted(t *testing.T, s *serveProc, labels ...string) int {
	t.Helper()
	_, body := httpGet(t, s.adminURL+"/metrics")
	n := 0
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		series, value, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(series, "paybridge_requests_total{") {
			continue
		}
		matches := true
		for _, l := range labels {
			matches = matches && strings.Contains(series, l)
		}
		if v, err := strconv.ParseFloat(value, 64); matches && err == nil {
			n += int(v)
		}
	}
	return n
}

// TestNATSAccountsKeepRepliesInTheRequestersAccount: under the accounts of
// deploy/nats/nats-server-accounts.conf, serve runs in PAYBRIDGE; from
// BILLING a service checks, looks up and reads the events with a durable
// consumer of its own; from CLIENTS `paybridge check` and `status` work
// and `paybridge events` follows a copy of the events in CLIENTS' own
// stream. A lookup whose reply subject a subscriber in PAYBRIDGE listens
// on is answered into the requester's account only: the accounts alone
// keep the bridge's replies out of its own account. Lookups with the reply
// subject $KV.payment_status.coinbar.<victim> (which in one account would
// overwrite the victim's record) and payments.status.changed (which would
// store a fake event) leave the record and PAYMENT_EVENTS as they were,
// read through the bridge's account before and after, whether the bridge
// answers them (into BILLING) or refuses such reply subjects itself.
func TestNATSAccountsKeepRepliesInTheRequestersAccount(t *testing.T) {
	urls := startAccountsNATS(t)
	f := startFakes(t)
	for _, id := range []string{"acct-1", "victim"} {
		must(t, f.coinbar.Add(fake.Payment{ID: id, Amount: "8.99", Currency: "EUR", Steps: []fake.Step{{Status: "PENDING"}}}))
	}
	s := startServe(t, f.serveEnv(), "--nats-url", urls.bridge)

	// CLIENTS keeps a copy of the events in a stream of its own, which
	// `paybridge events` follows as it would PAYMENT_EVENTS.
	clients := connect(t, urls.client)
	if _, err := newJetStream(t, clients).CreateStream(t.Context(), jetstream.StreamConfig{
		Name: client.DefaultEventStream, Subjects: []string{client.DefaultStatusChangedSubject, client.DefaultWatchExpiredSubject},
		Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute, MaxAge: 7 * 24 * time.Hour,
	}); err != nil {
		t.Fatalf("the copy of the events in CLIENTS: %v", err)
	}
	follower := start(t, "paybridge", testEnv(), "events", "--nats-url", urls.client)
	testkit.WaitFor(t, 10*time.Second, "events to follow the copy in CLIENTS", func() bool {
		return strings.Contains(follower.stderr.String(), "printing new events")
	})

	// BILLING: checks, and its durable consumer through the imported
	// JetStream API of PAYBRIDGE.
	billing := connect(t, urls.billing)
	handled := subscribe(t, billing, "billing")
	for _, id := range []string{"acct-1", "victim"} {
		if got := checkAs(t, billing, id); got != paybridge.StatusPending {
			t.Fatalf("check of %s from BILLING: %s", id, got)
		}
	}
	testkit.WaitFor(t, 10*time.Second, "billing's durable to handle both events, and events to print them", func() bool {
		out := follower.stdout.String()
		return len(handled.statuses()) == 2 && strings.Contains(out, "acct-1") && strings.Contains(out, "victim")
	})
	billingJS := newJetStream(t, billing)
	testkit.WaitFor(t, 10*time.Second, "billing's acks to be recorded", func() bool {
		c, err := billingJS.Consumer(t.Context(), client.DefaultEventStream, "billing")
		must(t, err)
		info := c.CachedInfo()
		return info.AckFloor.Stream == 2 && info.NumAckPending == 0
	})

	// CLIENTS: the client commands.
	out, errOut, code := run(t, testEnv(), "check", "--nats-url", urls.client, "coinbar", "acct-1")
	if code != 0 || !strings.Contains(out, "pending") {
		t.Fatalf("check from CLIENTS: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = run(t, testEnv(), "status", "--nats-url", urls.client, "coinbar", "victim")
	if code != 0 || !strings.Contains(out, "pending") {
		t.Fatalf("status from CLIENTS: exit %d\n%s\n%s", code, out, errOut)
	}

	// What the attacks must leave alone, read through the bridge's account.
	bridge := connect(t, urls.bridge)
	bridgeJS := newJetStream(t, bridge)
	kv, err := bridgeJS.KeyValue(t.Context(), "payment_status")
	must(t, err)
	victimBefore, err := kv.Get(t.Context(), "coinbar.victim")
	must(t, err)
	eventsBefore := streamState(t, bridgeJS, client.DefaultEventStream)
	if eventsBefore.Msgs != 2 {
		t.Fatalf("PAYMENT_EVENTS holds %d events before the attacks, want 2", eventsBefore.Msgs)
	}

	lookup := []byte(`{"provider":"coinbar","payment_id":"victim"}`)

	// A reply subject that someone in PAYBRIDGE listens on (the bridge's
	// own user may subscribe to _INBOX.>): the reply reaches the
	// requester's account, and nobody in PAYBRIDGE.
	spy, err := bridge.SubscribeSync("_INBOX.spy.>")
	must(t, err)
	must(t, bridge.Flush())
	own, err := billing.SubscribeSync("_INBOX.spy.>")
	must(t, err)
	must(t, billing.PublishRequest(client.DefaultStatusSubject, "_INBOX.spy.lookup", lookup))
	msg, err := own.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("the lookup's reply did not reach the requester's account: %v", err)
	}
	if !strings.Contains(string(msg.Data), `"payment_id":"victim"`) {
		t.Fatalf("the lookup's reply: %s", msg.Data)
	}
	must(t, bridge.Flush())
	if n, _, _ := spy.Pending(); n != 0 {
		m, _ := spy.NextMsg(0)
		t.Fatalf("a reply to BILLING reached a subscriber in PAYBRIDGE: %s", m.Data)
	}

	// The attacks of the confused deputy. In BILLING, a subscriber sees
	// the reply if the bridge answers (it is the requester's own
	// subject); the bridge may also refuse such a reply subject itself,
	// unanswered, which its metrics count.
	attacks := []string{"$KV.payment_status.coinbar.victim", client.DefaultStatusChangedSubject}
	refusedBefore := requestsCounted(t, s, `endpoint="lookup"`, `outcome="refused_reply_subject"`)
	var seen []*nats.Subscription
	for _, reply := range attacks {
		sub, err := billing.SubscribeSync(reply)
		must(t, err)
		seen = append(seen, sub)
	}
	must(t, billing.Flush())
	for _, reply := range attacks {
		must(t, billing.PublishRequest(client.DefaultStatusSubject, reply, lookup))
	}
	answered := make([]bool, len(attacks))
	testkit.WaitFor(t, 10*time.Second, "the bridge to answer each attack into BILLING or refuse it", func() bool {
		settled := requestsCounted(t, s, `endpoint="lookup"`, `outcome="refused_reply_subject"`) - refusedBefore
		for i, sub := range seen {
			for {
				m, err := sub.NextMsg(0)
				if err != nil {
					break
				}
				// The subject's events come too: the reply has no event id.
				if m.Header.Get(jetstream.MsgIDHeader) == "" {
					answered[i] = true
				}
			}
			if answered[i] {
				settled++
			}
		}
		return settled >= len(attacks)
	})
	t.Logf("attacks answered into BILLING: %v (the others refused by the bridge)", answered)

	victimAfter, err := kv.Get(t.Context(), "coinbar.victim")
	must(t, err)
	if victimAfter.Revision() != victimBefore.Revision() || string(victimAfter.Value()) != string(victimBefore.Value()) {
		t.Errorf("the victim's record changed: revision %d %s, now %d %s", victimBefore.Revision(), victimBefore.Value(), victimAfter.Revision(), victimAfter.Value())
	}
	if after := streamState(t, bridgeJS, client.DefaultEventStream); after.Msgs != eventsBefore.Msgs || after.LastSeq != eventsBefore.LastSeq {
		t.Errorf("PAYMENT_EVENTS changed: %d events up to %d, now %d up to %d", eventsBefore.Msgs, eventsBefore.LastSeq, after.Msgs, after.LastSeq)
	}

	// The victim's payment goes on as before: its next change is stored
	// and published, and billing's durable handles it.
	must(t, f.coinbar.Set("victim", fake.Step{Status: "SUCCESS"}))
	if got := checkAs(t, billing, "victim"); got != paybridge.StatusPaid {
		t.Fatalf("check of the paid victim: %s", got)
	}
	testkit.WaitFor(t, 10*time.Second, "billing's durable and events to see the victim paid", func() bool {
		return slices.Contains(handled.statuses(), "victim:paid") && strings.Contains(follower.stdout.String(), "pending → paid")
	})
	if got := handled.statuses(); len(got) != 3 {
		t.Errorf("billing's durable handled %v, want the three events", got)
	}
	if errs := handled.reported(); len(errs) > 0 {
		t.Errorf("billing's subscriber reported %v", errs)
	}

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

// TestNATSAccountsGiveEachServiceItsOwnDurable: under the accounts of
// deploy/nats/nats-server-accounts.conf, SHIPPING cannot read, settle,
// change or delete BILLING's durable consumer, nor BILLING SHIPPING's;
// each uses its own.
func TestNATSAccountsGiveEachServiceItsOwnDurable(t *testing.T) {
	urls := startAccountsNATS(t)
	f := startFakes(t)
	must(t, f.coinbar.Add(fake.Payment{ID: "dur-1", Amount: "8.99", Currency: "EUR", Steps: []fake.Step{{Status: "PENDING"}}}))
	startServe(t, f.serveEnv(), "--nats-url", urls.bridge)
	checkDurablesPerService(t, f, connect(t, urls.billing), connect(t, urls.shipping))
}

func streamState(t *testing.T, js jetstream.JetStream, name string) jetstream.StreamState {
	t.Helper()
	st, err := js.Stream(t.Context(), name)
	must(t, err)
	return st.CachedInfo().State
}
