package bridge_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/fake"
)

// twoInstances is two bridges on one NATS system, each asking its own copy
// of CoinbarPay and taking requests on its own subjects, so that a test
// can send a check to one of them and make one copy slow or stale.
type twoInstances struct {
	e          *env
	fast, slow *coinbar.Fake
}

func startTwoInstances(t *testing.T) *twoInstances {
	e := newEnv(t)
	slow, err := coinbar.NewFake(coinbarClientID, coinbarSecret)
	must(t, err)
	srv := httptest.NewServer(slow)
	t.Cleanup(srv.Close)
	client := func(url string) paybridge.Provider {
		p, err := coinbar.New(url, coinbarClientID, coinbar.WithSecretKey(coinbarSecret),
			coinbar.WithHTTPOptions(providers.WithBackoff(time.Millisecond, 5*time.Millisecond)))
		must(t, err)
		return p
	}
	e.startBridge(bridge.Config{QueueGroup: "fast", CheckSubject: "fast.check", StatusSubject: "fast.status"}, client(e.cbURL))
	e.startBridge(bridge.Config{QueueGroup: "slow", CheckSubject: "slow.check", StatusSubject: "slow.status"}, client(srv.URL))
	return &twoInstances{e: e, fast: e.coinbar, slow: slow}
}

// add adds the payment, pending, to both copies of the provider.
func (w *twoInstances) add(id string) {
	w.e.addCoinbar(id, "PENDING", "")
	must(w.e.t, w.slow.Add(fake.Payment{ID: id, Amount: "8.99", Currency: "EUR", Steps: []fake.Step{{Status: "PENDING"}}}))
}

// check sends a check to one instance ("fast" or "slow") and returns its
// reply.
func (w *twoInstances) check(instance, id string) paybridge.Reply {
	w.e.t.Helper()
	r := w.e.request(instance+".check", []byte(`{"provider":"coinbar","payment_id":"`+id+`"}`))
	if r.OK == nil {
		w.e.t.Fatalf("check of %s by %s: %s", id, instance, r.Raw)
	}
	return *r.OK
}

// checkLater sends a check to an instance and returns where its reply
// will come.
func (w *twoInstances) checkLater(instance, id string) chan *nats.Msg {
	replies := make(chan *nats.Msg, 1)
	go func() {
		msg, err := w.e.nc.Request(instance+".check", []byte(`{"provider":"coinbar","payment_id":"`+id+`"}`), 20*time.Second)
		if err != nil {
			w.e.t.Error(err)
		}
		replies <- msg
	}()
	return replies
}

// statuses lists the status changes the events of id announce.
func (w *twoInstances) statuses(id string) []string {
	var out []string
	for _, ev := range w.e.eventsFor(id) {
		from := "new"
		if ev.Data.PreviousStatus != nil {
			from = string(*ev.Data.PreviousStatus)
		}
		out = append(out, from+" → "+string(ev.Data.Status))
	}
	return out
}

// One instance's provider call is slow and answers FAILED (expired),
// dated before the SUCCESS the other instance stored meanwhile. The late
// answer is a stale read: the store ends on paid, the events are exactly
// new → pending and pending → paid, and a later check changes nothing (no
// paid → expired, no expired → paid under a new id for a consumer to
// credit twice).
func TestLateAnswerNeverRewritesANewerStatus(t *testing.T) {
	w := startTwoInstances(t)
	w.add("late")
	w.check("fast", "late")

	must(t, w.slow.Set("late", fake.Step{Status: "FAILED", Detail: "Timeout"}))
	failedAt := time.Now() // the step's date
	must(t, w.slow.Fault("late", fake.Fault{Times: 1, Delay: 3 * time.Second}))
	slowReply := w.checkLater("slow", "late")
	testkit.WaitFor(t, 5*time.Second, "the slow call under way", func() bool { return w.slow.Calls("late") == 1 })
	// The provider dates in milliseconds: SUCCESS must be the later date.
	testkit.WaitFor(t, time.Second, "the clock to pass FAILED's millisecond", func() bool { return time.Since(failedAt) > 2*time.Millisecond })
	must(t, w.fast.Set("late", fake.Step{Status: "SUCCESS"}))
	if r := w.check("fast", "late"); !r.Changed || r.Status != paybridge.StatusPaid {
		t.Fatalf("the fast instance's check: %+v", r)
	}

	late := w.e.decodeReply(<-slowReply)
	if late.OK == nil || !late.OK.Stale || late.OK.Changed || late.OK.Status != paybridge.StatusPaid {
		t.Fatalf("the late answer's reply: %s", late.Raw)
	}
	if rec, _ := w.e.stored("coinbar", "late"); rec.Status != paybridge.StatusPaid {
		t.Fatalf("stored %s, want paid", rec.Status)
	}
	if r := w.check("fast", "late"); r.Changed {
		t.Fatalf("a later check: %+v", r)
	}
	if got := w.statuses("late"); len(got) != 2 || got[0] != "new → pending" || got[1] != "pending → paid" {
		t.Fatalf("events %q, want new → pending, pending → paid", got)
	}
}

// undatedFailed is a CoinbarPay answer that says FAILED - Timeout without
// an update time.
const undatedFailed = `{"payment_id_coinbar":"0b5c2d7e-1111-2222-3333-444455556666","payment_request_id_client":"undated",` +
	`"service_client_id":"` + coinbarClientID + `","status":"FAILED","status_descr":"Timeout",` +
	`"payment_detail":{"total_price":8.99},"input_coin":"EUR"}`

// Without a date to compare, an answer to a call that began before another
// instance claimed a change may be the older one: it is not stored, and
// the payment is asked again, so that the provider's latest answer
// decides. Here that is paid again: one event per real change.
func TestUndatedLateAnswerIsAskedAgain(t *testing.T) {
	w := startTwoInstances(t)
	w.add("undated")
	w.check("fast", "undated")

	must(t, w.slow.Fault("undated", fake.Fault{Times: 1, Delay: 3 * time.Second, Body: []byte(undatedFailed)}))
	slowReply := w.checkLater("slow", "undated")
	testkit.WaitFor(t, 5*time.Second, "the slow call under way", func() bool { return w.slow.Calls("undated") == 1 })
	must(t, w.fast.Set("undated", fake.Step{Status: "SUCCESS"}))
	must(t, w.slow.Set("undated", fake.Step{Status: "SUCCESS"}))
	if r := w.check("fast", "undated"); !r.Changed {
		t.Fatalf("the fast instance's check: %+v", r)
	}
	calls := w.fast.Calls("undated") + w.slow.Calls("undated")

	late := w.e.decodeReply(<-slowReply)
	if late.OK == nil || !late.OK.Stale || late.OK.Status != paybridge.StatusPaid {
		t.Fatalf("the late answer's reply: %s", late.Raw)
	}
	testkit.WaitFor(t, 10*time.Second, "the payment asked again", func() bool {
		return w.fast.Calls("undated")+w.slow.Calls("undated") > calls
	})
	testkit.WaitFor(t, 10*time.Second, "the trigger done", func() bool {
		return w.e.watches() == 0
	})
	if rec, _ := w.e.stored("coinbar", "undated"); rec.Status != paybridge.StatusPaid {
		t.Fatalf("stored %s, want paid", rec.Status)
	}
	if got := w.statuses("undated"); len(got) != 2 || got[1] != "pending → paid" {
		t.Fatalf("events %q, want new → pending, pending → paid", got)
	}
}
