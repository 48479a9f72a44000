package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/paybridge/paybridge/accounts"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/client"
	"github.com/paybridge/paybridge/cmd/paysim/sim"
	"github.com/paybridge/paybridge/internal/cli"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/all"
)

// demoCredentials are the simulator's credentials, each provider's
// required ones: made up, harmless.
var demoCredentials = sim.MadeUpCredentials("demo-")

// demoAccounts are the merchant accounts the demo serves for every
// provider beside its default account: two merchants whose payments have
// the same ids and are yet their own.
var demoAccounts = []string{"shop-a", "shop-b"}

// demoSchedule re-checks watched payments often, so that the simulator's
// payments are seen to move within the minute they take to settle.
var demoSchedule = []time.Duration{2 * time.Second, 5 * time.Second}

// demoOptions are the demo's command line.
type demoOptions struct {
	log                                     logFlags
	embeddedListen, httpListen, adminListen string
	payments                                int
	seed                                    uint64
}

// demoFlags defines the demo's flags on a new flagSet, filling o.
func demoFlags(o *demoOptions) *flagSet {
	f := newFlagSet("demo", "demo [flags]")
	f.fromEnvOnly = []string{} // the demo needs no setup, and takes none from the environment
	f.StringVar(&o.embeddedListen, "embedded-listen", defaultEmbeddedListen, "host:port of the embedded NATS server; port -1 picks a free one")
	f.StringVar(&o.httpListen, "http-listen", defaultHTTPListen, "host:port of /webhooks/, /healthz and /readyz")
	f.StringVar(&o.adminListen, "admin-listen", defaultAdminListen, "host:port of /metrics, /healthz and /readyz")
	f.IntVar(&o.payments, "payments", 10, "simulated payments per provider")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the simulated payments")
	o.log.register(f, "warn")
	return f
}

// runDemo is `paybridge demo`: the embedded NATS server, paysim and the
// bridge in one process, every payment checked and watched, and the events
// printed as they come, until ctx ends.
func (m *Main) runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o demoOptions
	f := demoFlags(&o)
	pos, err := f.parseOrHelp(args, m.LookupEnv, stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return cli.Usagef("demo takes no arguments, got %q", pos[0])
	}
	if o.payments < 1 || o.payments > 1000 {
		return f.bad("payments", "want 1 to 1000")
	}
	if err := o.log.validate(f); err != nil {
		return err
	}
	for _, name := range []string{"embedded-listen", "http-listen", "admin-listen"} {
		if err := checkListen(f, name); err != nil {
			return err
		}
	}

	dir, err := os.MkdirTemp("", "paybridge-demo-")
	if err != nil {
		return err
	}
	m.onClose("demo data", func(context.Context) error { return os.RemoveAll(dir) })
	accountsDir := filepath.Join(dir, "accounts")
	accts, err := writeDemoAccounts(accountsDir)
	if err != nil {
		return err
	}
	scenario := sim.Generate(o.payments, "demo-", o.seed)
	accountScenario := sim.GenerateAccounts(o.payments, "demo-", o.seed, accts)
	simURL, err := m.startSim(sim.Config{Credentials: demoCredentials, Accounts: accts,
		Scenario: scenario, AccountScenario: accountScenario, Seed: o.seed})
	if err != nil {
		return err
	}
	cfg := serveConfig{
		embeddedListen: o.embeddedListen,
		dataDir:        dir,
		httpListen:     o.httpListen,
		adminListen:    o.adminListen,
		accountsDir:    accountsDir,
		bridge:         bridge.Config{WatchSchedule: demoSchedule, WatchDeadline: 10 * time.Minute},
	}
	for _, d := range all.List {
		cfg.providers = append(cfg.providers, providerConfig{Descriptor: d, baseURL: simURL, credentials: demoCredentials[d.Name]})
	}
	m.secrets.add(cfg.secrets()...)
	s, err := m.startServer(ctx, cfg, o.log.logger(stderr, &m.secrets))
	if err != nil {
		return err
	}
	printDemoBanner(stdout, s, simURL, dir, accountsDir, scenario, o.payments)
	p := &eventPrinter{out: stdout, errs: stderr}
	sub, err := p.follow(ctx, s.nc, client.DefaultEventStream, true, client.DefaultStatusChangedSubject, client.DefaultWatchExpiredSubject)
	if err != nil {
		return err
	}
	m.onClose("events", func(context.Context) error { sub.Stop(); return nil })
	checkAll(ctx, s.nc, scenario, accountScenario, stderr)
	return s.wait(ctx)
}

// writeDemoAccounts makes the accounts directory the simulator and the
// bridge share: demoAccounts for every provider, each credential of its
// descriptor made up as demo-<provider>-<account>-<credential> (harmless),
// one file each. It returns what accounts.Credentials, serve's reader,
// reads of it.
func writeDemoAccounts(dir string) (map[string]map[string]providers.Credentials, error) {
	for _, d := range all.List {
		for _, account := range demoAccounts {
			accountDir := filepath.Join(dir, d.Name, account)
			if err := os.MkdirAll(accountDir, 0o700); err != nil {
				return nil, err
			}
			for _, c := range d.Credentials {
				value := "demo-" + d.Name + "-" + account + "-" + c.Name + "\n"
				if err := os.WriteFile(filepath.Join(accountDir, c.Name), []byte(value), 0o600); err != nil {
					return nil, err
				}
			}
		}
	}
	return accounts.Credentials(dir, all.List)
}

// startSim serves the simulator on a free loopback port until Close.
func (m *Main) startSim(cfg sim.Config) (baseURL string, err error) {
	s, err := sim.New(cfg)
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("paysim: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	m.onClose("paysim", func(context.Context) error { cancel(); return <-served })
	return "http://" + ln.Addr().String(), nil
}

// checkAll asks for a watched check of every payment, the default
// account's and each merchant account's; the bridge then follows each one
// until it settles.
func checkAll(ctx context.Context, nc *nats.Conn, scenario sim.Scenario, accountScenario sim.AccountScenario, stderr io.Writer) {
	c, err := client.New(nc)
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return
	}
	for _, d := range all.List {
		for _, account := range append([]string{""}, demoAccounts...) {
			payments := scenario[d.Name]
			if account != "" {
				payments = accountScenario[d.Name][account]
			}
			for _, p := range payments {
				reqCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_, err := c.Check(reqCtx, d.Name, p.ID, client.Watch(), client.Account(account))
				cancel()
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					fmt.Fprintf(stderr, "demo: check %s: %s\n", paymentName(d.Name, account, p.ID), escapeForTerminal(err.Error()))
				}
			}
		}
	}
}

// printDemoBanner says where everything runs and what to try: a check of
// each provider's first payment (the others' with --json), one of the
// first provider's first payment of the first merchant account, and a
// lookup of the first provider's.
func printDemoBanner(w io.Writer, s *server, simURL, dir, accountsDir string, scenario sim.Scenario, payments int) {
	natsFlag, natsCLIFlag := "", ""
	if s.natsURL != defaultClientURL {
		natsFlag, natsCLIFlag = " --nats-url "+s.natsURL, " -s "+s.natsURL
	}
	var titles, try []string
	for i, d := range all.List {
		titles = append(titles, d.Title)
		check := "check" + natsFlag
		if i > 0 {
			check += " --json"
		}
		try = append(try, check+" "+d.Name+" "+scenario[d.Name][0].ID)
	}
	first := all.List[0]
	try = append(try, "check"+natsFlag+" --account "+demoAccounts[0]+" "+first.Name+" "+scenario[first.Name][0].ID,
		"status"+natsFlag+" "+first.Name+" "+scenario[first.Name][0].ID, "events"+natsFlag)
	fmt.Fprintf(w, `paybridge demo
  NATS     %s (embedded, JetStream; data in %s, removed at exit)
  paysim   %s (%s simulator: %d payments each, settling over about a minute)
  accounts %s of every provider beside its default account, in %s
           (made-up credentials): each merchant has its own %d payments, under the same ids
  bridge   requests on payments.check and payments.status.get, events on payments.status.changed
  HTTP     http://%s/readyz and /webhooks/; metrics on http://%s/metrics

Every payment of every account is checked with watch: true; the bridge
re-checks each one (after 2s, then every 5s) until its status is final.
A merchant account's events read provider/account: %s/%s %s.

Try from another terminal:
`, s.natsURL, dir, simURL, andList(titles), payments, andList(demoAccounts), accountsDir, payments, s.httpAddr, s.adminAddr,
		first.Name, demoAccounts[0], scenario[first.Name][0].ID)
	for _, cmd := range try {
		fmt.Fprintf(w, "  go run ./cmd/paybridge %s\n", cmd)
	}
	fmt.Fprintf(w, `  nats%s sub 'payments.>'
  curl http://%s/metrics

Events as they happen (Ctrl-C to stop):
`, natsCLIFlag, s.adminAddr)
}

// andList joins items as a sentence does: "a", "a and b", "a, b and c".
func andList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
