package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/client"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/fake"
)

// accountsLimit is the contract's bound on how soon a changed account
// directory is served: a rotated key, an added or a removed account.
const accountsLimit = 10 * time.Second

// keyLog is CoinbarPay's address for every account: fake.Accounts behind
// a record of the client id each request carried, in order.
type keyLog struct {
	fakes fake.Accounts
	mu    sync.Mutex
	keys  []string
}

func (k *keyLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	k.keys = append(k.keys, r.Header.Get("SERVICE_CLIENT_ID"))
	k.mu.Unlock()
	k.fakes.ServeHTTP(w, r)
}

// sent is how many requests carried key, and the index of the last one
// (-1: none).
func (k *keyLog) sent(key string) (n, last int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	last = -1
	for i, got := range k.keys {
		if got == key {
			n, last = n+1, i
		}
	}
	return n, last
}

func (k *keyLog) count() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.keys)
}

// account writes an account's key as a Kubernetes Secret volume does: a
// new file swapped in whole.
func writeAccountKey(t *testing.T, root, provider, account, key string) {
	t.Helper()
	dir := filepath.Join(root, provider, account)
	must(t, os.MkdirAll(dir, 0o700))
	tmp := filepath.Join(dir, ".api-key.tmp")
	must(t, os.WriteFile(tmp, []byte(key+"\n"), 0o600))
	must(t, os.Rename(tmp, filepath.Join(dir, "api-key")))
}

// One serve process for every merchant of a platform, with the accounts
// of the contract's directory: CoinbarPay has no default key, only the
// accounts shop-a and shop-b, each with a fake that accepts its own key
// for its own payments. The same payment id is two payments; a rotated
// key is used within ten seconds and the old one never after; a removed
// account is unknown_account, for checks and webhooks alike; nothing
// logged shows a key.
func TestServeFollowsTheAccountsDirectory(t *testing.T) {
	ns := startNATS(t)
	provider := &keyLog{}
	shopA, shopB := mustFake(t, "cb-a-SECRET"), mustFake(t, "cb-b-SECRET")
	provider.fakes.Set("shop-a", shopA.Engine)
	provider.fakes.Set("shop-b", shopB.Engine)
	srv := httptest.NewServer(provider)
	t.Cleanup(srv.Close)
	must(t, shopA.Add(fake.Payment{ID: "order-1", Amount: "8.99", Currency: "EUR", Steps: []fake.Step{{Status: "PENDING"}}}))
	must(t, shopB.Add(fake.Payment{ID: "order-1", Amount: "20.00", Currency: "EUR", Steps: []fake.Step{{Status: "SUCCESS"}}}))

	root := t.TempDir()
	writeAccountKey(t, root, "coinbar", "shop-a", "cb-a-SECRET")
	writeAccountKey(t, root, "coinbar", "shop-b", "cb-b-SECRET")
	s := startServe(t, testEnv("PAYBRIDGE_ACCOUNTS_DIR="+root), "--nats-url", ns.url, "--coinbar-base-url", srv.URL)

	nc, err := nats.Connect(ns.url)
	must(t, err)
	t.Cleanup(nc.Close)
	c, err := client.New(nc)
	must(t, err)
	var mu sync.Mutex
	var seen []events.StatusChanged
	sub, err := c.Subscribe(background(t), "accounts-test", func(_ context.Context, ev events.Event) error {
		mu.Lock()
		defer mu.Unlock()
		if ev.Type == events.TypeStatusChanged {
			seen = append(seen, ev.Data)
		}
		return nil
	})
	must(t, err)
	t.Cleanup(sub.Stop)
	check := func(account, id string) (paybridge.Reply, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return c.Check(ctx, "coinbar", id, client.Account(account))
	}

	a, err := check("shop-a", "order-1")
	must(t, err)
	b, err := check("shop-b", "order-1")
	must(t, err)
	if a.Status != paybridge.StatusPending || a.Account != "shop-a" || b.Status != paybridge.StatusPaid || b.Account != "shop-b" {
		t.Fatalf("the same id under two accounts: shop-a %s %q, shop-b %s %q", a.Status, a.Account, b.Status, b.Account)
	}
	testkit.WaitFor(t, 10*time.Second, "an event per account", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 2
	})
	mu.Lock()
	accounts := []string{seen[0].Account, seen[1].Account}
	mu.Unlock()
	slices.Sort(accounts)
	if !slices.Equal(accounts, []string{"shop-a", "shop-b"}) {
		t.Errorf("events' accounts: %v", accounts)
	}

	calls := provider.count()
	for _, account := range []string{"", "shop-z"} {
		if _, err := check(account, "order-1"); !errors.Is(err, client.ErrUnknownAccount) {
			t.Errorf("account %q: %v, want unknown_account", account, err)
		}
	}
	if provider.count() != calls {
		t.Errorf("unknown accounts reached the provider: %d calls", provider.count()-calls)
	}

	// A rotated key: the provider takes the new one only from now on.
	rotated := mustFake(t, "cb-a2-SECRET")
	must(t, rotated.Add(fake.Payment{ID: "order-2", Amount: "1.00", Currency: "EUR", Steps: []fake.Step{{Status: "PENDING"}}}))
	provider.fakes.Set("shop-a", rotated.Engine)
	writeAccountKey(t, root, "coinbar", "shop-a", "cb-a2-SECRET")
	testkit.WaitFor(t, accountsLimit, "the rotated key to be used", func() bool {
		_, err := check("shop-a", "order-2")
		return err == nil
	})
	_, lastOld := provider.sent("cb-a-SECRET")
	for range 3 {
		if _, err := check("shop-a", "order-2"); err != nil {
			t.Fatalf("after the rotation: %v", err)
		}
	}
	if n, last := provider.sent("cb-a-SECRET"); last != lastOld {
		t.Errorf("the rotated-out key was sent again (%d in all)", n)
	}

	// Webhooks: the rotated-out key is refused, shop-b's reaches shop-b.
	hook := s.httpURL + "/webhooks/coinbar"
	body := `{"payment_request_id_client":"order-1"}`
	if code := postWebhook(t, hook, "cb-a-SECRET", body); code != http.StatusUnauthorized {
		t.Errorf("a webhook with the rotated-out key: %d, want 401", code)
	}
	if code := postWebhook(t, hook, "cb-b-SECRET", body); code != http.StatusOK {
		t.Errorf("shop-b's webhook: %d, want 200", code)
	}

	// A removed account: its checks and its webhooks are refused.
	must(t, os.RemoveAll(filepath.Join(root, "coinbar", "shop-b")))
	testkit.WaitFor(t, accountsLimit, "the removed account to be unknown", func() bool {
		_, err := check("shop-b", "order-1")
		return errors.Is(err, client.ErrUnknownAccount)
	})
	if code := postWebhook(t, hook, "cb-b-SECRET", body); code != http.StatusUnauthorized {
		t.Errorf("a removed account's webhook: %d, want 401", code)
	}
	if _, err := check("shop-a", "order-2"); err != nil {
		t.Errorf("shop-a after shop-b went: %v", err)
	}

	// An account whose files are wrong is refused with one error naming
	// its file; the others keep working.
	must(t, os.MkdirAll(filepath.Join(root, "coinbar", "shop-c"), 0o700))
	must(t, os.WriteFile(filepath.Join(root, "coinbar", "shop-c", "rate"), []byte("lots\n"), 0o600))
	missing := filepath.Join(root, "coinbar", "shop-c", "api-key")
	testkit.WaitFor(t, accountsLimit, "the bad account to be logged", func() bool {
		return strings.Contains(s.stderr.String(), missing)
	})
	if _, err := check("shop-a", "order-2"); err != nil {
		t.Errorf("shop-a beside a bad account: %v", err)
	}

	_, metrics := httpGet(t, s.adminURL+"/metrics")
	if !strings.Contains(metrics, `paybridge_accounts{provider="coinbar"} 1`) {
		t.Errorf("the accounts gauge does not say 1 account:\n%s", grepLines(metrics, "paybridge_accounts"))
	}
	if code := s.stop(); code != 0 {
		t.Errorf("serve exited %d", code)
	}
	noSecrets(t, s.stdout.String(), s.stderr.String(), metrics)
}

func mustFake(t *testing.T, key string) *coinbar.Fake {
	t.Helper()
	f, err := coinbar.NewFake(key, "")
	must(t, err)
	return f
}

func postWebhook(t *testing.T, url, clientID, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	must(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("SERVICE_CLIENT_ID", clientID)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// grepLines are the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// Every account's secrets are blanked from the moment they are read,
// also those of an account added or rotated while serve runs.
func TestAccountSecretsAreRedactedAsTheyArrive(t *testing.T) {
	ns := startNATS(t)
	root := t.TempDir()
	writeAccountKey(t, root, "coinbar", "shop-a", "first-SECRET-a")
	m := NewMain()
	m.LookupEnv = func(string) (string, bool) { return "", false }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- m.Run(ctx, []string{"serve", "--nats-url", ns.url, "--accounts-dir", root,
			"--coinbar-base-url", "http://127.0.0.1:1", "--http-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, io.Discard, io.Discard)
	}()
	defer func() {
		cancel()
		must(t, <-done)
		must(t, m.Close())
	}()
	blanked := func(secret string) bool { return m.secrets.redact("key "+secret) == "key "+redacted }
	testkit.WaitFor(t, 20*time.Second, "the first account's key to be blanked", func() bool { return blanked("first-SECRET-a") })
	writeAccountKey(t, root, "coinbar", "shop-b", "added-SECRET-b")
	writeAccountKey(t, root, "coinbar", "shop-a", "rotated-SECRET-a")
	testkit.WaitFor(t, accountsLimit, "the added and rotated keys to be blanked", func() bool {
		return blanked("added-SECRET-b") && blanked("rotated-SECRET-a")
	})
	if !blanked("first-SECRET-a") {
		t.Error("the rotated-out key is no longer blanked")
	}
}
