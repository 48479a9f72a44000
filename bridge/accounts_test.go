package bridge_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/fake"
)

// testAccounts is a bridge.Accounts the test changes while the bridge
// runs: CoinbarPay accounts by name, each a client of the one CoinbarPay
// address with its own client id.
type testAccounts struct {
	t   *testing.T
	url string

	mu      sync.Mutex
	clients map[string]*coinbar.Client
	limits  map[string]bridge.Rate
}

func (a *testAccounts) set(name, clientID string, limit bridge.Rate) {
	c, err := coinbar.New(a.url, clientID, coinbar.WithHTTPOptions(providers.WithBackoff(time.Millisecond, 5*time.Millisecond)))
	must(a.t, err)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.clients[name], a.limits[name] = c, limit
}

func (a *testAccounts) remove(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.clients, name)
}

func (a *testAccounts) Providers() []string { return []string{coinbar.Name} }

func (a *testAccounts) Account(provider, name string) (bridge.Account, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.clients[name]
	if provider != coinbar.Name || !ok {
		return bridge.Account{}, false
	}
	return bridge.Account{Client: c, Limit: a.limits[name]}, true
}

func (a *testAccounts) WebhookAccount(provider, credential string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var names []string
	for name, c := range a.clients {
		if provider == coinbar.Name && paybridge.SameSecret(credential, c.WebhookSecret()) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ", "), len(names) == 1
}

func (a *testAccounts) Count(provider string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.clients)
}

func (a *testAccounts) Receiver(provider string) paybridge.WebhookReceiver {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.clients {
		return c
	}
	return nil
}

// accountsWorld is a bridge serving CoinbarPay's default account and the
// merchant accounts shop-a and shop-b, each with its own fake behind one
// address that accepts each key for its own payments only.
type accountsWorld struct {
	e        *env
	fakes    fake.Accounts
	accounts *testAccounts
	b        *bridge.Bridge
}

func startAccountsWorld(t *testing.T, cfg bridge.Config) *accountsWorld {
	w := &accountsWorld{e: newEnv(t)}
	srv := httptest.NewServer(&w.fakes)
	t.Cleanup(srv.Close)
	w.accounts = &testAccounts{t: t, url: srv.URL, clients: map[string]*coinbar.Client{}, limits: map[string]bridge.Rate{}}
	w.fakes.Set("", w.e.coinbar.Engine) // the default account's key, coinbarClientID
	for _, name := range []string{"shop-a", "shop-b"} {
		w.setFake(name, "key-"+name)
		w.accounts.set(name, "key-"+name, cfg.Limits["account "+name])
	}
	delete(cfg.Limits, "account shop-a")
	delete(cfg.Limits, "account shop-b")
	cfg.Accounts = w.accounts
	def, err := coinbar.New(srv.URL, coinbarClientID, coinbar.WithSecretKey(coinbarSecret),
		coinbar.WithHTTPOptions(providers.WithBackoff(time.Millisecond, 5*time.Millisecond)))
	must(t, err)
	w.b = w.e.startBridge(cfg, def)
	return w
}

// setFake gives account a fake that accepts key only.
func (w *accountsWorld) setFake(account, key string) *coinbar.Fake {
	f, err := coinbar.NewFake(key, "")
	must(w.e.t, err)
	w.fakes.Set(account, f.Engine)
	return f
}

func (w *accountsWorld) fake(account string) *fake.Engine { return w.fakes.Engine(account) }

// add adds a payment to an account's fake in the given raw status.
func (w *accountsWorld) add(account, id, status string) {
	must(w.e.t, w.fake(account).Add(fake.Payment{ID: id, Amount: "8.99", Currency: "EUR", Steps: []fake.Step{{Status: status}}}))
}

func (w *accountsWorld) check(account, id string) reply {
	w.e.t.Helper()
	fields := map[string]any{"provider": "coinbar", "payment_id": id}
	if account != "" {
		fields["account"] = account
	}
	return w.e.check(fields)
}

// The same payment id under two accounts is two payments, each asked with
// its own account's key: two records, two events, each carrying its
// account; the default account's keys and events carry none.
func TestAccountsKeepTheirPaymentsApart(t *testing.T) {
	w := startAccountsWorld(t, bridge.Config{})
	w.add("shop-a", "order-1", "SUCCESS")
	w.add("shop-b", "order-1", "PENDING")
	w.e.addCoinbar("order-1", "FAILED", "Timeout")

	for _, c := range []struct {
		account string
		status  paybridge.Status
	}{{"shop-a", paybridge.StatusPaid}, {"shop-b", paybridge.StatusPending}, {"", paybridge.StatusExpired}} {
		r := w.check(c.account, "order-1")
		if r.OK == nil || r.OK.Status != c.status || r.OK.Account != c.account || !r.OK.Changed {
			t.Fatalf("account %q: %s", c.account, r.Raw)
		}
	}
	testkit.WaitFor(t, 5*time.Second, "three events", func() bool { return len(w.e.eventsFor("order-1")) == 3 })
	byAccount := map[string]paybridge.Status{}
	ids := map[string]bool{}
	for _, ev := range w.e.eventsFor("order-1") {
		byAccount[ev.Data.Account] = ev.Data.Status
		ids[ev.ID] = true
	}
	if byAccount["shop-a"] != paybridge.StatusPaid || byAccount["shop-b"] != paybridge.StatusPending || byAccount[""] != paybridge.StatusExpired || len(ids) != 3 {
		t.Fatalf("events by account: %v (%d ids)", byAccount, len(ids))
	}
	// The default account's record is where it always was.
	if rec, ok := w.e.stored("coinbar", "order-1"); !ok || rec.Status != paybridge.StatusExpired || rec.Account != "" {
		t.Fatalf("default record: %+v", rec)
	}
	// A lookup reads its own account's record.
	lookup := w.e.request("payments.status.get", []byte(`{"provider":"coinbar","account":"shop-b","payment_id":"order-1"}`))
	if lookup.OK == nil || lookup.OK.Status != paybridge.StatusPending || lookup.OK.Account != "shop-b" {
		t.Fatalf("lookup: %s", lookup.Raw)
	}
	for account, f := range map[string]*fake.Engine{"shop-a": w.fake("shop-a"), "shop-b": w.fake("shop-b"), "": w.fake("")} {
		if n := f.Calls("order-1"); n != 1 {
			t.Errorf("account %q's fake answered %d calls, want 1", account, n)
		}
	}
}

// An account the provider does not have is refused as unknown_account
// before any provider call, lookups too; so is one removed while the
// bridge runs.
func TestUnknownAccountsAreRefusedBeforeAnyCall(t *testing.T) {
	w := startAccountsWorld(t, bridge.Config{})
	w.add("shop-a", "p", "PENDING")
	for _, subject := range []string{"payments.check", "payments.status.get"} {
		r := w.e.request(subject, []byte(`{"provider":"coinbar","account":"shop-z","payment_id":"p"}`))
		if r.Err == nil || r.Err.Error.Code != paybridge.CodeUnknownAccount || r.Err.Account != "shop-z" || r.Header.Get("Nats-Service-Error-Code") != "400" {
			t.Fatalf("%s for an unknown account: %s", subject, r.Raw)
		}
	}
	if r := w.check("shop-a", "p"); r.OK == nil {
		t.Fatalf("shop-a: %s", r.Raw)
	}
	w.accounts.remove("shop-a")
	if r := w.check("shop-a", "p"); r.Err == nil || r.Err.Error.Code != paybridge.CodeUnknownAccount {
		t.Fatalf("a removed account: %s", r.Raw)
	}
	if n := w.fake("shop-a").Calls("p"); n != 1 {
		t.Fatalf("%d provider calls, want only the one before the removal", n)
	}
	for _, bad := range []string{`"shop z"`, `"../x"`, `"` + string(make([]byte, 65)) + `"`, `1`} {
		r := w.e.request("payments.check", []byte(`{"provider":"coinbar","account":`+bad+`,"payment_id":"p"}`))
		if r.Err == nil || r.Err.Error.Code != paybridge.CodeInvalidRequest {
			t.Fatalf("account %s: %s", bad, r.Raw)
		}
	}
}

// A rotated key is used from the next check on, and the old one never
// after; its payments and records stay the account's.
func TestRotatedAccountKeyIsUsedAtOnce(t *testing.T) {
	w := startAccountsWorld(t, bridge.Config{})
	w.add("shop-a", "p", "PENDING")
	if r := w.check("shop-a", "p"); r.OK == nil {
		t.Fatalf("before: %s", r.Raw)
	}
	old := w.fake("shop-a")
	rotated := w.setFake("shop-a", "key-shop-a-2")
	must(t, rotated.Add(fake.Payment{ID: "p", Amount: "8.99", Currency: "EUR", Steps: []fake.Step{{Status: "SUCCESS"}}}))
	w.accounts.set("shop-a", "key-shop-a-2", bridge.Rate{})
	r := w.check("shop-a", "p")
	if r.OK == nil || !r.OK.Changed || r.OK.Status != paybridge.StatusPaid {
		t.Fatalf("after the rotation: %s", r.Raw)
	}
	if n := old.Calls("p"); n != 1 {
		t.Fatalf("the old key was used %d times, want only before the rotation", n)
	}
	for _, req := range rotated.Requests() {
		if req.Header.Get("CBPAY-API-KEY") != "key-shop-a-2" {
			t.Fatalf("a call after the rotation carried %q", req.Header.Get("CBPAY-API-KEY"))
		}
	}
}

// Budgets are per account: one merchant's spent budget refuses its own
// checks only.
func TestOneAccountsSpentBudgetLeavesTheOthersWorking(t *testing.T) {
	w := startAccountsWorld(t, bridge.Config{Limits: map[string]bridge.Rate{"account shop-a": {N: 10, Per: 24 * time.Hour}}})
	for i := range 3 {
		w.add("shop-a", fmt.Sprintf("a-%d", i), "PENDING")
		w.add("shop-b", fmt.Sprintf("b-%d", i), "PENDING")
	}
	// A budget of 10 a day allows a burst of one.
	if r := w.check("shop-a", "a-0"); r.OK == nil {
		t.Fatalf("the first call of shop-a: %s", r.Raw)
	}
	if r := w.check("shop-a", "a-1"); r.Err == nil || r.Err.Error.Code != paybridge.CodeProviderRateLimited {
		t.Fatalf("shop-a past its budget: %s", r.Raw)
	}
	for i := range 3 {
		if r := w.check("shop-b", fmt.Sprintf("b-%d", i)); r.OK == nil {
			t.Fatalf("shop-b while shop-a's budget is spent: %s", r.Raw)
		}
	}
	if r := w.check("", "a-2"); r.Err == nil || r.Err.Error.Code != paybridge.CodePaymentNotFound {
		t.Fatalf("the default account (which has no such payment) while shop-a's budget is spent: %s", r.Raw)
	}
}

// A callback whose credential the default account and a merchant account
// share cannot say whose payment it names: it is refused, not checked with
// the default account's key (whose provider would answer not found).
func TestWebhookOfACredentialTheDefaultAccountSharesIsRefused(t *testing.T) {
	w := startAccountsWorld(t, fastWatches(bridge.Config{}))
	url := webhookServer(t, w.b) + "/webhooks/coinbar"
	for _, account := range []string{"shop-c", "shop-d"} { // one account, then two, share it
		w.accounts.set(account, coinbarClientID, bridge.Rate{})
		code, resp := post(t, url, http.Header{"SERVICE_CLIENT_ID": {coinbarClientID}}, `{"payment_request_id_client":"hooked"}`)
		if code != http.StatusUnauthorized {
			t.Fatalf("a callback with a credential shared up to %s: %d %s", account, code, resp)
		}
	}
	if w.e.watches() != 0 {
		t.Fatal("a trigger was stored")
	}
}

// A CoinbarPay callback selects the account whose client id it carries;
// the trigger checks the payment with that account's key, and its event
// carries the account.
func TestWebhookReachesItsAccount(t *testing.T) {
	w := startAccountsWorld(t, fastWatches(bridge.Config{}))
	w.add("shop-a", "hooked", "PENDING")
	w.add("shop-b", "hooked", "SUCCESS")
	url := webhookServer(t, w.b) + "/webhooks/coinbar"
	if code, resp := post(t, url, http.Header{"SERVICE_CLIENT_ID": {"key-shop-z"}}, `{"payment_request_id_client":"hooked"}`); code != http.StatusUnauthorized {
		t.Fatalf("a callback with no account's key: %d %s", code, resp)
	}
	code, resp := post(t, url, http.Header{"SERVICE_CLIENT_ID": {"key-shop-b"}}, `{"payment_request_id_client":"hooked"}`)
	if code != http.StatusOK {
		t.Fatalf("shop-b's callback: %d %s", code, resp)
	}
	testkit.WaitFor(t, 10*time.Second, "shop-b's event", func() bool { return len(w.e.eventsFor("hooked")) == 1 })
	if ev := w.e.eventsFor("hooked")[0]; ev.Data.Account != "shop-b" || ev.Data.Status != paybridge.StatusPaid {
		t.Fatalf("event: %+v", ev.Data)
	}
	if w.fake("shop-a").Calls("hooked") != 0 || w.fake("shop-b").Calls("hooked") != 1 {
		t.Fatalf("calls: shop-a %d, shop-b %d", w.fake("shop-a").Calls("hooked"), w.fake("shop-b").Calls("hooked"))
	}
}
