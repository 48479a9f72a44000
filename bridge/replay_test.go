package bridge_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/internal/testkit"
)

// A Muvinai notification replayed a thousand times for a payment stored as
// paid costs at most two provider calls: a trigger for a payment the
// provider was asked about lately waits (a settled one a minute, an open
// one a few seconds), and while it waits it holds its subject, so the
// replays stored meanwhile are one trigger. The budget is left for a
// legitimate check. (A budget of 100 a day allows a burst of 10.)
func TestReplayedWebhooksSpendNoBudget(t *testing.T) {
	e := newEnv(t)
	b := e.startBridge(fastWatches(bridge.Config{Limits: map[string]bridge.Rate{"muvinai": {N: 100, Per: 24 * time.Hour}}}))
	url := webhookServer(t, b) + "/webhooks/muvinai?token=" + muvinaiWebhookToken
	e.addMuvinai("replayed", "approved", "correct", "15000.50")
	e.addMuvinai("legit", "pending", "not_paid", "0")
	if r := e.mustCheck("muvinai", "replayed"); r.Status != paybridge.StatusPaid {
		t.Fatalf("first check: %+v", r)
	}

	const replays = 1000
	var wg sync.WaitGroup
	for range 4 { // four senders, as a replaying attacker would not wait either
		wg.Go(func() {
			for range replays / 4 {
				code, resp := post(t, url, nil, `{"id":"n1","event_type":"new_payment","entity_type":"payment_request","entity_id":"replayed"}`)
				if code != http.StatusOK {
					t.Errorf("replay: %d %s", code, resp)
					return
				}
			}
		})
	}
	wg.Wait()
	testkit.WaitFor(t, 10*time.Second, "every trigger delivered", func() bool {
		info, err := e.js.Consumer(context.Background(), "PAYMENT_WATCHES", "paybridge-watches-muvinai")
		must(t, err)
		in, err := info.Info(context.Background())
		must(t, err)
		return in.NumPending == 0
	})
	if calls := e.muvinai.Calls("replayed") - 1; calls > 2 {
		t.Fatalf("%d replays cost %d provider calls, want at most 2", replays, calls)
	}
	if r := e.check(map[string]any{"provider": "muvinai", "payment_id": "legit"}); r.OK == nil {
		t.Fatalf("a legitimate check after the replays: %s", r.Raw)
	}
	if n := len(e.eventsFor("replayed")); n != 1 {
		t.Fatalf("%d events for the replayed payment, want 1", n)
	}
}
