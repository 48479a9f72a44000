package bridge_test

import (
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers/fake"
)

// skewedClock runs a fixed offset from the wall clock.
type skewedClock time.Duration

func (c skewedClock) Now() time.Time                         { return time.Now().UTC().Add(time.Duration(c)) }
func (c skewedClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Two instances whose clocks differ by far more than the grace period
// still leave a claim to its claimer for the whole grace period, as each
// measures it on its own clock from when it found the claim, never from
// the claimer's observed_at: a core subscriber sees the change once.
// (Judging by observed_at, the instance ahead found the claim overdue at
// once and published it while its claimer was still publishing.)
func TestClockSkewBeyondTheGraceLeavesAClaimToItsClaimer(t *testing.T) {
	e := newEnv(t)
	const grace = 2 * time.Second
	behind := e.startBridge(bridge.Config{QueueGroup: "behind", CheckSubject: "behind.check", StatusSubject: "behind.status",
		ReconcileGrace: grace, Clock: skewedClock(-time.Minute)})
	e.startBridge(bridge.Config{QueueGroup: "ahead", CheckSubject: "ahead.check", StatusSubject: "ahead.status",
		ReconcileGrace: grace, Clock: skewedClock(time.Minute)})
	e.addCoinbar("skew", "PENDING", "")
	check := func(instance string) reply {
		return e.request(instance+".check", []byte(`{"provider":"coinbar","payment_id":"skew"}`))
	}
	if r := check("behind"); r.OK == nil || !r.OK.Changed {
		t.Fatalf("first check: %s", r.Raw)
	}

	var mu sync.Mutex
	seen := map[string]int{}
	sub, err := e.nc.Subscribe("payments.status.changed", func(m *nats.Msg) {
		mu.Lock()
		seen[m.Header.Get("ce-id")]++
		mu.Unlock()
	})
	must(t, err)
	t.Cleanup(func() { sub.Unsubscribe() })
	must(t, e.nc.Flush())

	// The instance behind claims paid and is slow to publish it.
	release := make(chan struct{})
	claimed := make(chan struct{})
	behind.SetAfterClaim(func(bridge.Record) error {
		close(claimed)
		<-release
		return nil
	})
	must(t, e.coinbar.Set("skew", fake.Step{Status: "SUCCESS"}))
	answered := make(chan reply, 1)
	go func() { answered <- check("behind") }()
	<-claimed
	// The instance two minutes ahead checks the payment meanwhile, and
	// again: the claim is fresh by its own clock, so it leaves it.
	for range 2 {
		if r := check("ahead"); r.OK == nil || r.OK.Status != paybridge.StatusPaid {
			t.Fatalf("check by the instance ahead: %s", r.Raw)
		}
	}
	close(release)
	if r := <-answered; r.OK == nil || !r.OK.Changed {
		t.Fatalf("the claimer's check: %s", r.Raw)
	}
	testkit.WaitFor(t, 5*time.Second, "the change on the subject", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 1
	})
	must(t, e.nc.Flush())
	mu.Lock()
	defer mu.Unlock()
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("event %s on the subject %d times, want once", id, n)
		}
	}
}

// A claim whose claimer died is announced by an instance whose clock runs
// behind the claimer's by more than the grace period, the grace period
// after it found it: skew delays nothing beyond the grace.
func TestClockSkewBeyondTheGraceStillAnnouncesAnAbandonedClaim(t *testing.T) {
	e := newEnv(t)
	cfg := func(queue string, skew time.Duration) bridge.Config {
		return bridge.Config{QueueGroup: queue, CheckSubject: queue + ".check", StatusSubject: queue + ".status",
			ReconcileGrace: time.Second, ReconcileInterval: 100 * time.Millisecond, Clock: skewedClock(skew)}
	}
	dies := e.startBridge(cfg("dies", time.Minute))
	e.startBridge(cfg("lives", -time.Minute))
	e.addCoinbar("orphan", "PENDING", "")
	dies.SetAfterClaim(func(bridge.Record) error { return errCrash })
	if r := e.request("dies.check", []byte(`{"provider":"coinbar","payment_id":"orphan"}`)); r.Err == nil {
		t.Fatalf("the dying claimer answered: %s", r.Raw)
	}
	must(t, dies.Close(t.Context()))
	testkit.WaitFor(t, 10*time.Second, "the claim announced by the other instance", func() bool {
		rec, ok := e.stored("coinbar", "orphan")
		return ok && rec.Published && len(e.eventsFor("orphan")) == 1
	})
}
