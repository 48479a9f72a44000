package main

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paybridge/paybridge/cmd/paysim/sim"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers"
)

// TestDemo runs the demo in-process: it prints where everything runs,
// an event for each payment's first check (the default account's and
// both merchant accounts', each event naming its account), and commands
// that work; at the end it exits cleanly and removes its data.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &testkit.SyncBuffer{}, &testkit.SyncBuffer{}
	m := NewMain()
	done := make(chan error, 1)
	go func() {
		done <- m.Run(ctx, []string{"demo", "--embedded-listen", "127.0.0.1:-1", "--http-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--payments", "2"}, stdout, stderr)
	}()

	var want []string
	for _, provider := range []string{"coinbar", "muvinai"} {
		for _, account := range []string{"", "/shop-a", "/shop-b"} {
			for _, id := range []string{"0001", "0002"} {
				want = append(want, " "+provider+account+" demo-"+provider+"-"+id+" new → pending")
			}
		}
	}
	testkit.WaitFor(t, 20*time.Second, "an event per payment of each account", func() bool {
		select {
		case err := <-done:
			t.Fatalf("demo ended early: %v\n%s\n%s", err, stdout, stderr)
		default:
		}
		for _, w := range want {
			if !strings.Contains(stdout.String(), w) {
				return false
			}
		}
		return true
	})
	banner := stdout.String()
	dataDir := regexp.MustCompile(`data in (\S+), removed at exit`).FindStringSubmatch(banner)
	try := regexp.MustCompile(`go run ./cmd/paybridge (check --nats-url \S+ coinbar demo-coinbar-0001)\n`).FindStringSubmatch(banner)
	tryAccount := regexp.MustCompile(`go run ./cmd/paybridge (check --nats-url \S+ --account shop-a coinbar demo-coinbar-0001)\n`).FindStringSubmatch(banner)
	if dataDir == nil || try == nil || tryAccount == nil {
		t.Fatalf("the banner does not say where the data is or what to try:\n%s", banner)
	}
	// The shops' events are theirs: no other account's id, and the same
	// payment id is another payment (another event id) in each account.
	eventIDs := map[string]string{}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if m := regexp.MustCompile(` (coinbar\S*) demo-coinbar-0001 new → \S+ \(\S+\) id=(\S+)$`).FindStringSubmatch(line); m != nil {
			if other, seen := eventIDs[m[2]]; seen {
				t.Errorf("%s and %s share the event %s", other, m[1], m[2])
			}
			eventIDs[m[2]] = m[1]
		}
	}
	if len(eventIDs) != 3 {
		t.Errorf("demo-coinbar-0001's first events %v, want one per account:\n%s", eventIDs, stdout)
	}

	// The printed commands work against the running demo, each answered
	// from its account's payment (the demo's seed is 1): their amounts
	// differ.
	shopA := sim.GenerateAccounts(2, "demo-", 1, map[string]map[string]providers.Credentials{"coinbar": {"shop-a": nil}})["coinbar"]["shop-a"][0]
	byDefault := sim.Generate(2, "demo-", 1)["coinbar"][0]
	if shopA.Amount == byDefault.Amount {
		t.Fatalf("shop-a's demo-coinbar-0001 has the default's amount %s", shopA.Amount)
	}
	for _, c := range []struct{ cmd, want, amount string }{
		{try[1], "coinbar demo-coinbar-0001: pending", byDefault.Amount},
		{tryAccount[1], "coinbar/shop-a demo-coinbar-0001: pending", shopA.Amount},
	} {
		out := &testkit.SyncBuffer{}
		client := NewMain()
		if err := client.Run(context.Background(), strings.Fields(c.cmd), out, out); err != nil {
			t.Errorf("%s: %v\n%s", c.cmd, err, out)
		}
		must(t, client.Close())
		if !strings.HasPrefix(out.String(), c.want) || !strings.Contains(out.String(), "amount: "+c.amount+" EUR") {
			t.Errorf("%s printed %q, want %s… amount: %s EUR", c.cmd, out, c.want, c.amount)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("demo returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("demo did not return after its context ended")
	}
	must(t, m.Close())
	if _, err := os.Stat(dataDir[1]); !os.IsNotExist(err) {
		t.Errorf("the demo's data %s is still there: %v", dataDir[1], err)
	}
	if stderr.String() != "" {
		t.Errorf("the demo logged at warn or above:\n%s", stderr)
	}
}
