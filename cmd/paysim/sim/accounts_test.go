package sim_test

import (
	"context"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/cmd/paysim/sim"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/all"
	"github.com/paybridge/paybridge/providers/fake"
)

// accountCredentials are made-up credentials of every credential the
// descriptor names: "<account>-<provider>-<credential>".
func accountCredentials(account string) map[string]providers.Credentials {
	out := map[string]providers.Credentials{}
	for _, d := range all.List {
		creds := providers.Credentials{}
		for _, c := range d.Credentials {
			creds[c.Name] = account + "-" + d.Flag(c.Name)
		}
		out[d.Name] = creds
	}
	return out
}

// scripted is d's payment id, of amount, with one step.
func scripted(d providers.Descriptor, id, amount string, step fake.Step) fake.Payment {
	p := d.Sim.Payment
	p.ID, p.Amount, p.Steps = id, amount, []fake.Step{step}
	return p
}

// TestAccountsEachSeeTheirOwnPayments: two accounts of each provider and
// its default account, served at the same paths, each answer a client
// with their credentials from their own payments (the same id is three
// payments), and a client whose credentials no account has is refused.
func TestAccountsEachSeeTheirOwnPayments(t *testing.T) {
	shopA, shopB := accountCredentials("shop-a"), accountCredentials("shop-b")
	cfg := sim.Config{
		Credentials:     testCredentials,
		Accounts:        map[string]map[string]providers.Credentials{},
		Scenario:        sim.Scenario{},
		AccountScenario: sim.AccountScenario{},
	}
	for _, d := range all.List {
		cfg.Accounts[d.Name] = map[string]providers.Credentials{"shop-a": shopA[d.Name], "shop-b": shopB[d.Name]}
		cfg.Scenario[d.Name] = []fake.Payment{scripted(d, "p-1", "10.5", d.Sim.Pending)}
		cfg.AccountScenario[d.Name] = map[string][]fake.Payment{
			"shop-a": {scripted(d, "p-1", "11.5", d.Sim.Paid)},
			"shop-b": {scripted(d, "p-1", "12.5", d.Sim.Pending), scripted(d, "only-b", "13.5", d.Sim.Paid)},
		}
	}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	ctx := context.Background()
	short := providers.WithBackoff(time.Millisecond, 5*time.Millisecond)
	for _, d := range all.List {
		client := func(creds providers.Credentials) paybridge.Provider {
			t.Helper()
			c, err := d.New(srv.URL, creds, short)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		cases := []struct {
			account string
			creds   providers.Credentials
			id      string
			status  paybridge.Status
			amount  string
			code    paybridge.Code
		}{
			{"", testCredentials[d.Name], "p-1", paybridge.StatusPending, "10.5", ""},
			{"shop-a", shopA[d.Name], "p-1", paybridge.StatusPaid, "11.5", ""},
			{"shop-b", shopB[d.Name], "p-1", paybridge.StatusPending, "12.5", ""},
			{"shop-b", shopB[d.Name], "only-b", paybridge.StatusPaid, "13.5", ""},
			{"shop-a", shopA[d.Name], "only-b", "", "", paybridge.CodePaymentNotFound},
			{"", testCredentials[d.Name], "only-b", "", "", paybridge.CodePaymentNotFound},
			{"nobody", accountCredentials("nobody")[d.Name], "p-1", "", "", paybridge.CodeProviderAuthFailed},
		}
		for _, c := range cases {
			got, err := client(c.creds).Check(ctx, c.id)
			switch {
			case c.code != "" && paybridge.ErrorCode(err) != c.code:
				t.Errorf("%s %q %s: %+v, %v; want %s", d.Name, c.account, c.id, got, err, c.code)
			case c.code == "" && (err != nil || got.Status != c.status || got.Amount != c.amount):
				t.Errorf("%s %q %s: %s %q, %v; want %s %q", d.Name, c.account, c.id, got.Status, got.Amount, err, c.status, c.amount)
			}
		}
		// Each fake counted its own account's calls; the default's is Fake's.
		if s.Fake(d.Name) != s.FakeOf(d.Name, "") {
			t.Errorf("%s: Fake is not FakeOf the default account", d.Name)
		}
		for account, want := range map[string]int{"": 1, "shop-a": 1, "shop-b": 1} {
			if n := s.FakeOf(d.Name, account).Calls("p-1"); n != want {
				t.Errorf("%s %q: %d calls of p-1, want %d", d.Name, account, n, want)
			}
		}
		if s.FakeOf(d.Name, "shop-c") != nil {
			t.Errorf("%s: a fake for an account it was not given", d.Name)
		}
	}
}

// A provider with accounts and no default credentials is served, its
// default account not.
func TestAccountsWithoutDefault(t *testing.T) {
	d := all.List[0]
	s, err := sim.New(sim.Config{
		Credentials:     map[string]providers.Credentials{},
		Accounts:        map[string]map[string]providers.Credentials{d.Name: {"shop-a": accountCredentials("shop-a")[d.Name]}},
		AccountScenario: sim.AccountScenario{d.Name: {"shop-a": {scripted(d, "p-1", "1", d.Sim.Paid)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Served(); !slices.Equal(got, []string{d.Name}) || s.Fake(d.Name) != nil || s.FakeOf(d.Name, "shop-a") == nil {
		t.Fatalf("served %q, default fake %v", got, s.Fake(d.Name))
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	c, err := d.New(srv.URL, accountCredentials("shop-a")[d.Name])
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Check(context.Background(), "p-1"); err != nil || got.Status != paybridge.StatusPaid {
		t.Errorf("shop-a p-1: %+v, %v", got, err)
	}
}

func TestNewRefusesBadAccounts(t *testing.T) {
	d := all.List[0]
	shopA := accountCredentials("shop-a")[d.Name]
	accounts := func(byName map[string]providers.Credentials) map[string]map[string]providers.Credentials {
		return map[string]map[string]providers.Credentials{d.Name: byName}
	}
	payment := scripted(d, "p-1", "1", d.Sim.Paid)
	cases := map[string]sim.Config{
		`accounts for "stripe", which is no provider`: {Credentials: testCredentials,
			Accounts: map[string]map[string]providers.Credentials{"stripe": {"shop-a": {"key": "k"}}}},
		d.Name + ` account "shop a": its name`: {Credentials: testCredentials, Accounts: accounts(map[string]providers.Credentials{"shop a": shopA})},
		d.Name + ` account shop-b: no api-key`: {Credentials: testCredentials, Accounts: accounts(map[string]providers.Credentials{"shop-b": {}})},
		d.Name + ` account shop-b has the credentials of account shop-a`: {Credentials: testCredentials,
			Accounts: accounts(map[string]providers.Credentials{"shop-a": shopA, "shop-b": shopA})},
		d.Name + ` account shop-a has the credentials of the default account`: {Credentials: testCredentials,
			Accounts: accounts(map[string]providers.Credentials{"shop-a": testCredentials[d.Name]})},
		`the scenario has 1 ` + d.Name + ` account shop-b payments, but it is not served`: {Credentials: testCredentials,
			Accounts: accounts(map[string]providers.Credentials{"shop-a": shopA}), AccountScenario: sim.AccountScenario{d.Name: {"shop-b": {payment}}}},
		`the scenario has 1 ` + d.Name + ` payments of the default account, but it is not served: no api-key`: {
			Accounts: accounts(map[string]providers.Credentials{"shop-a": shopA}), Scenario: sim.Scenario{d.Name: {payment}}},
	}
	for want, cfg := range cases {
		if _, err := sim.New(cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want one naming %s", err, want)
		}
	}
}

// GenerateAccounts gives each account the ids Generate gives its
// provider, drawn from a stream of the account's own: repeatable, unlike
// the default account's and the other accounts', and unchanged by
// another account added.
func TestGenerateAccounts(t *testing.T) {
	one := map[string]map[string]providers.Credentials{}
	two := map[string]map[string]providers.Credentials{}
	for _, d := range all.List {
		one[d.Name] = map[string]providers.Credentials{"shop-a": nil}
		two[d.Name] = map[string]providers.Credentials{"shop-a": nil, "shop-b": nil}
	}
	defaults := sim.Generate(20, "x-", 7)
	a, b := sim.GenerateAccounts(20, "x-", 7, one), sim.GenerateAccounts(20, "x-", 7, two)
	if !reflect.DeepEqual(a, sim.GenerateAccounts(20, "x-", 7, one)) {
		t.Fatal("the same seed generated different payments")
	}
	for _, d := range all.List {
		shopA, shopB := a[d.Name]["shop-a"], b[d.Name]["shop-b"]
		if !reflect.DeepEqual(shopA, b[d.Name]["shop-a"]) {
			t.Errorf("%s: another account changed shop-a's payments", d.Name)
		}
		if len(shopA) != 20 || len(shopB) != 20 {
			t.Fatalf("%s: %d and %d payments, want 20", d.Name, len(shopA), len(shopB))
		}
		for i := range shopA {
			if shopA[i].ID != defaults[d.Name][i].ID || shopB[i].ID != defaults[d.Name][i].ID {
				t.Errorf("%s: ids %q, %q, want the default's %q", d.Name, shopA[i].ID, shopB[i].ID, defaults[d.Name][i].ID)
			}
			if err := shopA[i].Validate(); err != nil {
				t.Errorf("%s: %v", shopA[i].ID, err)
			}
		}
		if reflect.DeepEqual(shopA, defaults[d.Name]) || reflect.DeepEqual(shopA, shopB) {
			t.Errorf("%s: an account's payments are another's", d.Name)
		}
	}
	if got := sim.GenerateAccounts(20, "x-", 7, nil); len(got) != 0 {
		t.Errorf("payments %v for no account", got)
	}
}

// A scenario's payment with "account" is that account's; an id may be
// used once per account.
func TestParseScenarioAccounts(t *testing.T) {
	s, accounts, err := sim.ParseScenario(strings.NewReader(`{"coinbar": [
		{"id": "a", "amount": 1, "currency": "EUR", "steps": [{"status": "PENDING"}]},
		{"id": "a", "account": "shop-a", "amount": 2, "currency": "EUR", "steps": [{"status": "SUCCESS"}]},
		{"id": "b", "account": "shop-a", "amount": 3, "currency": "EUR", "steps": [{"status": "SUCCESS"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(s["coinbar"]) != 1 || s["coinbar"][0].Amount != "1" {
		t.Errorf("default payments %+v", s["coinbar"])
	}
	if got := accounts["coinbar"]["shop-a"]; len(got) != 2 || got[0].ID != "a" || got[0].Amount != "2" || got[1].ID != "b" {
		t.Errorf("shop-a's payments %+v", got)
	}
	for in, want := range map[string]string{
		`{"coinbar": [{"id": "a", "account": "shop a", "amount": 1, "currency": "EUR", "steps": [{"status": "PENDING"}]}]}`: `coinbar payment 1 (id "a"): account "shop a": its name`,
		`{"coinbar": [{"id": "a", "account": "s", "amount": 1, "currency": "EUR", "steps": [{"status": "PENDING"}]},
		              {"id": "a", "account": "s", "amount": 1, "currency": "EUR", "steps": [{"status": "PENDING"}]}]}`: `coinbar payment 2 (id "a"): the id is used twice in account s`,
	} {
		if _, _, err := sim.ParseScenario(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n  error %v\n  want one containing %s", in, err, want)
		}
	}
}
