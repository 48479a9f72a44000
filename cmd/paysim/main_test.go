package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/accounts"
	"github.com/paybridge/paybridge/cmd/paysim/sim"
	"github.com/paybridge/paybridge/internal/cli"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/all"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/fake"
	"github.com/paybridge/paybridge/providers/muvinai"
)

// startRun runs paysim on a random port and returns its base URL, what it
// prints (the banner), the log it writes, and a stop function that waits
// for it to exit cleanly.
func startRun(t *testing.T, args ...string) (baseURL string, stdout, logs *testkit.SyncBuffer, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, logs = &testkit.SyncBuffer{}, &testkit.SyncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"--listen", "127.0.0.1:0"}, args...), stdout, logs) }()
	const banner = "paysim listening on "
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(stdout.String(), banner) {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("run ended before serving: %v\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("paysim did not print its URL within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	line, _, _ := strings.Cut(strings.SplitAfter(stdout.String(), banner)[1], "\n")
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v on shutdown", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("run did not return after its context was canceled")
		}
	}
	t.Cleanup(stop)
	return line, stdout, logs, stop
}

func TestRunServesBothProviders(t *testing.T) {
	base, _, logs, stop := startRun(t,
		"--coinbar-api-key", "cb-id", "--coinbar-secret-key", "cb-secret", "--muvinai-api-key", "mv-key",
		"--scenario", "testdata/scenario.json", "--payments", "2", "--prefix", "t-", "--log-format", "json")
	short := providers.WithBackoff(time.Millisecond, 5*time.Millisecond)
	cb, err := coinbar.New(base, "cb-id", coinbar.WithSecretKey("cb-secret"), coinbar.WithHTTPOptions(short))
	if err != nil {
		t.Fatal(err)
	}
	mv, err := muvinai.New(base, "mv-key", muvinai.WithHTTPOptions(short))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	checks := []struct {
		p      paybridge.Provider
		id     string
		status paybridge.Status
		amount string
	}{
		{cb, "order-1001", paybridge.StatusPending, "8.99"},
		{cb, "t-coinbar-0002", paybridge.StatusPending, ""},
		{mv, "pr-2001", paybridge.StatusPending, "1500.50"},
		{mv, "t-muvinai-0001", paybridge.StatusPending, ""},
	}
	for _, c := range checks {
		got, err := c.p.Check(ctx, c.id)
		if err != nil {
			t.Fatalf("%s %s: %v", c.p.Name(), c.id, err)
		}
		if got.Status != c.status || (c.amount != "" && got.Amount != c.amount) {
			t.Errorf("%s %s: %s %q, want %s %q", c.p.Name(), c.id, got.Status, got.Amount, c.status, c.amount)
		}
	}
	got, err := cb.Check(ctx, "order-1001")
	if err != nil || got.CryptoAmount != "0.00045145423250897323" {
		t.Errorf("order-1001 crypto amount %q, %v", got.CryptoAmount, err)
	}
	// order-1002 is PENDING for 3 answers, then FAILED/Timeout.
	var statuses []paybridge.Status
	for range 4 {
		r, err := cb.Check(ctx, "order-1002")
		if err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, r.Status)
	}
	if got, want := fmt.Sprint(statuses), "[pending pending pending expired]"; got != want {
		t.Errorf("order-1002 went %s, want %s", got, want)
	}
	wrong, err := muvinai.New(base, "not-the-key")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wrong.Check(ctx, "pr-2001"); paybridge.ErrorCode(err) != paybridge.CodeProviderAuthFailed {
		t.Errorf("wrong key: %v, want provider_auth_failed", err)
	}
	stop()
	if l := logs.String(); !strings.Contains(l, `"provider":"muvinai"`) || !strings.Contains(l, `"status":401`) {
		t.Errorf("request log lacks the requests:\n%s", l)
	}
	if l := logs.String(); strings.Contains(l, "mv-key") || strings.Contains(l, "cb-secret") {
		t.Errorf("request log shows a credential:\n%s", l)
	}
}

// TestBannerHidesCredentials: the banner says which credentials each
// provider checks and where they come from, but prints none of them, nor
// anything derived from one (CoinbarPay's SIGNATURE).
func TestBannerHidesCredentials(t *testing.T) {
	for _, withSecret := range []bool{false, true} {
		var args []string
		for _, d := range all.List {
			for _, name := range d.Sim.Checks {
				if c := credentialOf(d, name); c.Required || withSecret {
					args = append(args, "--"+d.Flag(name), d.Flag(name)+"-xyzzy")
				}
			}
		}
		_, stdout, logs, stop := startRun(t, append(args, "--payments", "1")...)
		stop()
		banner := stdout.String()
		for _, secret := range []string{"xyzzy", coinbar.Signature("coinbar-secret-key-xyzzy", nil)} {
			if strings.Contains(banner, secret) || strings.Contains(logs.String(), secret) {
				t.Errorf("secret key %v: a credential was printed:\n%s%s", withSecret, banner, logs)
			}
		}
		for _, d := range all.List {
			for _, name := range d.Sim.Checks {
				c := credentialOf(d, name)
				checked := "checked, the value of --" + d.Flag(name) + " (set; not shown)"
				if !c.Required && !withSecret {
					checked = "not checked (no --" + d.Flag(name) + ")"
				}
				if !strings.Contains(banner, name+": "+checked) {
					t.Errorf("secret key %v: the banner does not say %q:\n%s", withSecret, checked, banner)
				}
				if (c.Required || withSecret) && !strings.Contains(banner, "$"+shellVar(d.Flag(name))) {
					t.Errorf("secret key %v: the curl examples do not read $%s:\n%s", withSecret, shellVar(d.Flag(name)), banner)
				}
			}
		}
	}
}

// A provider whose required credential is given empty is not served, and
// says so: that is no error, and the others are served.
func TestProviderWithoutKeyIsNotServed(t *testing.T) {
	base, stdout, _, stop := startRun(t, "--coinbar-api-key", "", "--payments", "1")
	if !regexp.MustCompile(`\ncoinbar +not served \(no --coinbar-api-key\)\n`).MatchString(stdout.String()) {
		t.Errorf("the banner does not say coinbar is not served:\n%s", stdout)
	}
	mv, err := muvinai.New(base, "paysim-muvinai-api-key")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := mv.Check(context.Background(), "sim-muvinai-0001"); err != nil || got.Status != paybridge.StatusPending {
		t.Errorf("muvinai is not served: %+v, %v", got, err)
	}
	stop()
}

func credentialOf(d providers.Descriptor, name string) providers.Credential {
	for _, c := range d.Credentials {
		if c.Name == name {
			return c
		}
	}
	return providers.Credential{}
}

func TestScenarioFile(t *testing.T) {
	s, accounts, err := sim.LoadScenario("testdata/scenario.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(accounts) != 0 {
		t.Errorf("payments of accounts %v, want none", accounts)
	}
	if len(s["coinbar"]) != 2 || len(s["muvinai"]) != 2 {
		t.Fatalf("%d coinbar and %d muvinai payments, want 2 and 2", len(s["coinbar"]), len(s["muvinai"]))
	}
	first := s["coinbar"][0]
	if first.ID != "order-1001" || first.Amount != "8.99" || first.Currency != "EUR" ||
		first.CryptoAmount != "0.00045145423250897323" || first.CryptoCoin != "BTC" {
		t.Errorf("order-1001 = %+v", first)
	}
	wantSteps := []fake.Step{{Status: "CREATED", For: 5 * time.Second}, {Status: "PENDING", For: 20 * time.Second}, {Status: "SUCCESS"}}
	if !equalSteps(first.Steps, wantSteps) {
		t.Errorf("order-1001 steps %+v, want %+v", first.Steps, wantSteps)
	}
	if p := s["coinbar"][1]; p.Amount != "25" || !equalSteps(p.Steps, []fake.Step{{Status: "PENDING", Calls: 3}, {Status: "FAILED", Detail: "Timeout"}}) {
		t.Errorf("order-1002 = %+v", p)
	}
	if p := s["muvinai"][0]; p.Amount != "1500.50" || p.Steps[1].AmountPaid != "700" || p.Steps[1].Detail != "underpaid" || p.Steps[1].For != 15*time.Second {
		t.Errorf("pr-2001 = %+v", p)
	}
	if p := s["muvinai"][1]; p.Amount != "99.99" || p.Currency != "USD" || p.Steps[1].AmountPaid != "0" || p.Steps[0].Calls != 2 {
		t.Errorf("pr-2002 = %+v", p)
	}
}

func equalSteps(a, b []fake.Step) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRunRejectsBadFlags(t *testing.T) {
	cases := map[string][]string{
		"--latency":    {"--latency", "fast"},
		"range":        {"--latency", "80ms-10ms"},
		"--fault-rate": {"--fault-rate", "1.5"},
		"--log-format": {"--log-format", "xml"},
		"--payments":   {"--payments", "-1"},
		"argument":     {"stray"},
		"nope.json":    {"--scenario", "testdata/nope.json"},
		"the scenario has 2 coinbar payments, but coinbar is not served: no api-key": {"--coinbar-api-key", "", "--scenario", "testdata/scenario.json"},
	}
	var none []string // every provider's required credentials empty
	for _, d := range all.List {
		for _, c := range d.Credentials {
			if c.Required {
				none = append(none, "--"+d.Flag(c.Name), "")
			}
		}
	}
	cases["no provider to serve"] = none
	for want, args := range cases {
		var stderr testkit.SyncBuffer
		// A case that starts serving instead fails at the deadline.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := run(ctx, append([]string{"--listen", "127.0.0.1:0"}, args...), &testkit.SyncBuffer{}, &stderr)
		cancel()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: error %v, want one naming %s", args, err, want)
		}
	}
}

// TestRunServesAccounts: with --accounts-dir, each account of the
// directory is served at its provider's paths with payments of its own,
// scripted (the scenario's "account") and generated (the default
// account's ids, drawn apart); the banner lists them and shows no value
// of the directory's files.
func TestRunServesAccounts(t *testing.T) {
	const dir = "testdata/accounts"
	base, stdout, logs, stop := startRun(t, "--accounts-dir", dir,
		"--scenario", "testdata/scenario-accounts.json", "--payments", "2", "--prefix", "t-", "--log-format", "json")
	short := providers.WithBackoff(time.Millisecond, 5*time.Millisecond)
	read, err := accounts.Credentials(dir, all.List)
	if err != nil {
		t.Fatal(err)
	}
	client := func(provider, account string) paybridge.Provider {
		t.Helper()
		d, _ := all.Lookup(provider)
		creds := read[provider][account]
		if account == "" {
			creds = sim.MadeUpCredentials("paysim-")[provider]
		}
		c, err := d.New(base, creds, short)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx := context.Background()
	checks := []struct {
		provider, account, id string
		status                paybridge.Status
		amount                string
		code                  paybridge.Code
	}{
		{"coinbar", "", "order-1001", paybridge.StatusPending, "8.99", ""},
		{"coinbar", "shop-a", "order-1001", paybridge.StatusPending, "19.99", ""},
		{"coinbar", "shop-a", "order-1001", paybridge.StatusPaid, "19.99", ""},
		{"coinbar", "shop-b", "order-1001", paybridge.StatusExpired, "5", ""},
		{"muvinai", "shop-a", "pr-2001", paybridge.StatusPaid, "1500.50", ""},
		{"muvinai", "shop-b", "pr-2001", paybridge.StatusPending, "99.99", ""},
		{"muvinai", "", "pr-2001", "", "", paybridge.CodePaymentNotFound},
		{"coinbar", "shop-b", "t-coinbar-0002", paybridge.StatusPending, "", ""},
		{"muvinai", "shop-a", "t-muvinai-0001", paybridge.StatusPending, "", ""},
		{"muvinai", "", "t-muvinai-0001", paybridge.StatusPending, "", ""},
	}
	for _, c := range checks {
		got, err := client(c.provider, c.account).Check(ctx, c.id)
		switch {
		case c.code != "" && paybridge.ErrorCode(err) != c.code:
			t.Errorf("%s %q %s: %+v, %v; want %s", c.provider, c.account, c.id, got, err, c.code)
		case c.code == "" && (err != nil || got.Status != c.status || (c.amount != "" && got.Amount != c.amount)):
			t.Errorf("%s %q %s: %s %q, %v; want %s %q", c.provider, c.account, c.id, got.Status, got.Amount, err, c.status, c.amount)
		}
	}
	// The same generated id is two payments: their amounts differ.
	a, errA := client("coinbar", "shop-a").Check(ctx, "t-coinbar-0001")
	b, errB := client("coinbar", "shop-b").Check(ctx, "t-coinbar-0001")
	if errA != nil || errB != nil || a.Amount == b.Amount {
		t.Errorf("t-coinbar-0001 of shop-a %+v (%v) and of shop-b %+v (%v): want two payments", a, errA, b, errB)
	}
	stop()

	banner := stdout.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`\n +account shop-a  payments: order-1001, t-coinbar-0001, t-coinbar-0002\n +checked: api-key, secret-key, the values of its files in --accounts-dir \(not shown\)\n`),
		regexp.MustCompile(`\n +account shop-b  payments: order-1001, t-coinbar-0001, t-coinbar-0002\n +checked: api-key, the values of its files`),
		regexp.MustCompile(`\n +account shop-b  payments: pr-2001, t-muvinai-0001, t-muvinai-0002\n`),
		regexp.MustCompile(`\n +payments: t-muvinai-0001, t-muvinai-0002\n`),
	} {
		if !want.MatchString(banner) {
			t.Errorf("the banner does not match %s:\n%s", want, banner)
		}
	}
	for provider, byAccount := range read {
		for account, creds := range byAccount {
			for name, value := range creds {
				if strings.Contains(banner, value) || strings.Contains(logs.String(), value) {
					t.Errorf("%s %s's %s was printed:\n%s%s", provider, account, name, banner, logs)
				}
			}
		}
	}
}

// A provider with accounts and its default key set empty is served, its
// default account not, and the banner says so.
func TestRunServesAccountsWithoutDefault(t *testing.T) {
	base, stdout, _, stop := startRun(t, "--accounts-dir", "testdata/accounts", "--coinbar-api-key", "", "--payments", "1")
	if !regexp.MustCompile(`\ncoinbar +base URL .*\n +default account: not served \(no --coinbar-api-key\)\n +account shop-a  payments: sim-coinbar-0001\n`).MatchString(stdout.String()) {
		t.Errorf("the banner does not say coinbar's default account is not served:\n%s", stdout)
	}
	cb, err := coinbar.New(base, "shop-b-coinbar-api-key")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cb.Check(context.Background(), "sim-coinbar-0001"); err != nil || got.Status != paybridge.StatusPending {
		t.Errorf("coinbar shop-b is not served: %+v, %v", got, err)
	}
	stop()
}

// An account paysim cannot read is a usage error naming its file, as
// serve's log line does; so is a directory that is not there.
func TestRunRefusesBadAccounts(t *testing.T) {
	d := all.List[0]
	write := func(t *testing.T, files map[string]string) string {
		dir := t.TempDir()
		for name, value := range files {
			path := filepath.Join(dir, filepath.FromSlash(name))
			must(t, os.MkdirAll(filepath.Dir(path), 0o700))
			must(t, os.WriteFile(path, []byte(value), 0o600))
		}
		return dir
	}
	cases := []struct {
		name  string
		files map[string]string
		want  func(dir string) string
	}{
		{"missing key", map[string]string{d.Name + "/shop-a/other": "x"},
			func(dir string) string { return filepath.Join(dir, d.Name, "shop-a", "api-key") + " is missing" }},
		{"empty key", map[string]string{d.Name + "/shop-a/api-key": "\n"},
			func(dir string) string { return filepath.Join(dir, d.Name, "shop-a", "api-key") + " is empty" }},
		{"bad name", map[string]string{d.Name + "/shop a/api-key": "k"},
			func(dir string) string { return filepath.Join(dir, d.Name, "shop a") + ": its name" }},
		{"no such directory", nil,
			func(dir string) string { return filepath.Join(dir, "nope") }},
		{"file", map[string]string{"file": "x"},
			func(dir string) string { return filepath.Join(dir, "file") + " is not a directory" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := write(t, c.files)
			arg := dir
			switch c.name {
			case "no such directory":
				arg = filepath.Join(dir, "nope")
			case "file":
				arg = filepath.Join(dir, "file")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := run(ctx, []string{"--listen", "127.0.0.1:0", "--accounts-dir", arg}, &testkit.SyncBuffer{}, &testkit.SyncBuffer{})
			if want := c.want(dir); err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "--accounts-dir: ") || cli.ExitCode(err) != 2 {
				t.Errorf("error %v (exit %d), want a usage error about --accounts-dir naming %s", err, cli.ExitCode(err), want)
			}
		})
	}
	// A scenario naming an account the directory has not.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := run(ctx, []string{"--listen", "127.0.0.1:0", "--scenario", "testdata/scenario-accounts.json"}, &testkit.SyncBuffer{}, &testkit.SyncBuffer{})
	if want := "coinbar account shop-a payments, but it is not served"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want one naming %s", err, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
