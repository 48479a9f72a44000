package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/client"
	"github.com/paybridge/paybridge/cmd/paysim/sim"
	"github.com/paybridge/paybridge/internal/cli"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/fake"
	"github.com/paybridge/paybridge/providers/muvinai"
)

// The demo's simulator credentials: made up, printed, harmless.
const (
	demoCoinbarClientID = "demo-coinbar-client"
	demoMuvinaiAPIKey   = "demo-muvinai-key"
)

// demoSchedule re-checks watched payments often, so that the simulator's
// payments are seen to move within the minute they take to settle.
var demoSchedule = []time.Duration{2 * time.Second, 5 * time.Second}

// runDemo is `paybridge demo`: the embedded NATS server, paysim and the
// bridge in one process, every payment checked and watched, and the events
// printed as they come, until ctx ends.
func (m *Main) runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var lf logFlags
	var embeddedListen, httpListen, adminListen string
	var payments int
	var seed uint64
	f := newFlagSet("demo", "demo [flags]")
	f.fromEnvOnly = []string{} // the demo needs no setup, and takes none from the environment
	f.StringVar(&embeddedListen, "embedded-listen", defaultEmbeddedListen, "host:port of the embedded NATS server; port -1 picks a free one")
	f.StringVar(&httpListen, "http-listen", defaultHTTPListen, "host:port of /webhooks/, /healthz and /readyz")
	f.StringVar(&adminListen, "admin-listen", defaultAdminListen, "host:port of /metrics, /healthz and /readyz")
	f.IntVar(&payments, "payments", 10, "simulated payments per provider")
	f.Uint64Var(&seed, "seed", 1, "seed of the simulated payments")
	lf.register(f, "warn")
	pos, err := f.parseOrHelp(args, m.LookupEnv, stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return cli.Usagef("demo takes no arguments, got %q", pos[0])
	}
	if payments < 1 || payments > 1000 {
		return f.bad("payments", "want 1 to 1000")
	}
	if err := lf.validate(f); err != nil {
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
	scenario := sim.Generate(payments, "demo-", seed)
	simURL, err := m.startSim(scenario, seed)
	if err != nil {
		return err
	}
	cfg := serveConfig{
		embeddedListen: embeddedListen,
		dataDir:        dir,
		httpListen:     httpListen,
		adminListen:    adminListen,
		coinbar:        providerConfig{baseURL: simURL, apiKey: demoCoinbarClientID},
		muvinai:        providerConfig{baseURL: simURL, apiKey: demoMuvinaiAPIKey},
		bridge:         bridge.Config{WatchSchedule: demoSchedule, WatchDeadline: 10 * time.Minute},
	}
	m.secrets.add(cfg.secrets()...)
	s, err := m.startServer(ctx, cfg, lf.logger(stderr, &m.secrets))
	if err != nil {
		return err
	}
	printDemoBanner(stdout, s, simURL, dir, scenario)
	p := &eventPrinter{out: stdout, errs: stderr}
	sub, err := p.follow(ctx, s.nc, client.DefaultEventStream, true, client.DefaultStatusChangedSubject, client.DefaultWatchExpiredSubject)
	if err != nil {
		return err
	}
	m.onClose("events", func(context.Context) error { sub.Stop(); return nil })
	checkAll(ctx, s.nc, scenario, stderr)
	return s.wait(ctx)
}

// startSim serves the simulator on a free loopback port until Close.
func (m *Main) startSim(scenario sim.Scenario, seed uint64) (baseURL string, err error) {
	s, err := sim.New(sim.Config{CoinbarClientID: demoCoinbarClientID, MuvinaiAPIKey: demoMuvinaiAPIKey, Scenario: scenario, Seed: seed})
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

// checkAll asks for a watched check of every payment; the bridge then
// follows each one until it settles.
func checkAll(ctx context.Context, nc *nats.Conn, scenario sim.Scenario, stderr io.Writer) {
	c, err := client.New(nc)
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return
	}
	for _, set := range []struct {
		provider string
		payments []fake.Payment
	}{{coinbar.Name, scenario.Coinbar}, {muvinai.Name, scenario.Muvinai}} {
		for _, p := range set.payments {
			reqCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := c.Check(reqCtx, set.provider, p.ID, client.Watch())
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				fmt.Fprintf(stderr, "demo: check %s %s: %s\n", set.provider, escapeForTerminal(p.ID), escapeForTerminal(err.Error()))
			}
		}
	}
}

func printDemoBanner(w io.Writer, s *server, simURL, dir string, scenario sim.Scenario) {
	natsFlag, natsCLIFlag := "", ""
	if s.natsURL != defaultClientURL {
		natsFlag, natsCLIFlag = " --nats-url "+s.natsURL, " -s "+s.natsURL
	}
	cb, mv := scenario.Coinbar[0].ID, scenario.Muvinai[0].ID
	fmt.Fprintf(w, `paybridge demo
  NATS     %s (embedded, JetStream; data in %s, removed at exit)
  paysim   %s (CoinbarPay and Muvinai simulator: %d payments each, settling over about a minute)
  bridge   requests on payments.check and payments.status.get, events on payments.status.changed
  HTTP     http://%s/readyz and /webhooks/; metrics on http://%s/metrics

Every payment is checked with watch: true; the bridge re-checks each one
(after 2s, then every 5s) until its status is final.

Try from another terminal:
  go run ./cmd/paybridge check%s coinbar %s
  go run ./cmd/paybridge check%s --json muvinai %s
  go run ./cmd/paybridge status%s coinbar %s
  go run ./cmd/paybridge events%s
  nats%s sub 'payments.>'
  curl http://%s/metrics

Events as they happen (Ctrl-C to stop):
`, s.natsURL, dir, simURL, len(scenario.Coinbar), s.httpAddr, s.adminAddr,
		natsFlag, cb, natsFlag, mv, natsFlag, cb, natsFlag, natsCLIFlag, s.adminAddr)
}
