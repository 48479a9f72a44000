// Package sim is the paysim provider simulator as a library: every
// provider's fake status API on one handler, loaded with scripted
// payments, so the paysim command and paybridge's demo run the same thing.
package sim

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/all"
	"github.com/paybridge/paybridge/providers/fake"
)

// Config says what the simulator serves and how badly it behaves.
type Config struct {
	// Credentials are, by provider name, what each provider's fake accepts
	// (the credentials its descriptor's Sim.Checks names). A provider
	// without its required credentials is not served.
	Credentials map[string]providers.Credentials
	// Accounts are, by provider and account name, the merchant accounts
	// each provider's fake serves beside the default credentials
	// (docs/contract.md, "Accounts"), as accounts.Credentials reads them
	// from the directory `paybridge serve --accounts-dir` reads. Each
	// account has a fake of its own at the provider's paths, with its own
	// payments, accepting only that account's credentials: the same
	// payment id under two accounts is two payments. A provider with
	// accounts is served even without default credentials.
	Accounts map[string]map[string]providers.Credentials
	// Scenario is the default accounts' payments; only providers whose
	// default credentials are set may have some.
	Scenario Scenario
	// AccountScenario is the accounts' payments, by provider and account
	// name; only accounts in Accounts may have some.
	AccountScenario AccountScenario
	// LatencyMin and LatencyMax delay every answer by a random time
	// between them; zero for none.
	LatencyMin, LatencyMax time.Duration
	// FaultRate is the share of answers replaced by a failure: three in
	// four of them a 5xx, one in four a 429 with Retry-After: 1.
	FaultRate float64
	// Seed makes latencies and faults repeatable.
	Seed uint64
	// Logger logs one line per request (never its headers); nil for none.
	Logger *slog.Logger
}

// MadeUpCredentials are each provider's required credentials, made up as
// prefix and the credential's flag ("demo-<provider>-api-key"): what the
// demo, paybench and paysim's defaults give the fakes and the bridge.
func MadeUpCredentials(prefix string) map[string]providers.Credentials {
	out := map[string]providers.Credentials{}
	for _, d := range all.List {
		creds := providers.Credentials{}
		for _, c := range d.Credentials {
			if c.Required {
				creds[c.Name] = prefix + d.Flag(c.Name)
			}
		}
		out[d.Name] = creds
	}
	return out
}

// Sim serves the fakes of the providers it was given credentials for on
// one handler: their paths do not clash. A provider's accounts share its
// paths, each request going to the fake whose credentials it carries.
type Sim struct {
	fakes    map[string]*fake.Accounts // by provider; the default account is ""
	served   []string                  // in the order of all.List
	scenario Scenario
	handler  http.Handler
}

// New builds the simulator and loads the scenario's payments; each
// payment's script starts now.
func New(cfg Config) (*Sim, error) {
	if cfg.FaultRate < 0 || cfg.FaultRate > 1 {
		return nil, fmt.Errorf("paysim: fault rate must be between 0 and 1, got %v", cfg.FaultRate)
	}
	for name := range cfg.Credentials {
		if _, ok := all.Lookup(name); !ok {
			return nil, fmt.Errorf("paysim: credentials for %q, which is no provider (%s)", name, knownProviders())
		}
	}
	if err := checkAccounts(cfg); err != nil {
		return nil, err
	}
	s := &Sim{fakes: map[string]*fake.Accounts{}, scenario: cfg.Scenario}
	mux := http.NewServeMux()
	for _, d := range all.List {
		creds, accounts := cfg.Credentials[d.Name], cfg.Accounts[d.Name]
		if !d.Enabled(creds) {
			if n := len(cfg.Scenario[d.Name]); n > 0 && len(accounts) > 0 {
				return nil, fmt.Errorf("paysim: the scenario has %d %s payments of the default account, but it is not served: %s", n, d.Name, missing(d, creds))
			} else if n > 0 {
				return nil, fmt.Errorf("paysim: the scenario has %d %s payments, but %s is not served: %s", n, d.Name, d.Name, missing(d, creds))
			}
			if len(accounts) == 0 {
				continue
			}
		}
		fakes := &fake.Accounts{}
		if d.Enabled(creds) { // first: a request no fake accepts is refused by it
			e, err := newFake(d, "", creds, cfg, cfg.Scenario[d.Name])
			if err != nil {
				return nil, err
			}
			fakes.Set("", e)
		}
		for _, name := range slices.Sorted(maps.Keys(accounts)) {
			e, err := newFake(d, name, accounts[name], cfg, cfg.AccountScenario[d.Name][name])
			if err != nil {
				return nil, err
			}
			fakes.Set(name, e)
		}
		s.fakes[d.Name], s.served = fakes, append(s.served, d.Name)
		mux.Handle(d.Sim.PathPrefix, fakes)
	}
	for name := range cfg.Scenario {
		if _, ok := all.Lookup(name); !ok {
			return nil, fmt.Errorf("paysim: the scenario has payments for %q, which is no provider (%s)", name, knownProviders())
		}
	}
	if len(s.served) == 0 {
		return nil, errors.New("paysim: no provider to serve: each lacks a required credential and has no account")
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	s.handler = mux
	if cfg.Logger != nil {
		s.handler = logRequests(cfg.Logger, mux)
	}
	return s, nil
}

// newFake makes the fake of one account of d ("" for the default) with
// its payments. Each fake has its own stream, so that their faults do not
// fall in step and another provider or account does not change them.
func newFake(d providers.Descriptor, account string, creds providers.Credentials, cfg Config, payments []fake.Payment) (*fake.Engine, error) {
	e, err := d.Sim.NewFake(creds,
		fake.WithSeed(cfg.Seed^streamOf(d.Name, account)),
		fake.WithFaultRates(cfg.FaultRate*3/4, cfg.FaultRate/4),
		fake.WithLatency(cfg.LatencyMin, cfg.LatencyMax))
	if err != nil {
		return nil, fmt.Errorf("paysim: %w", err)
	}
	for _, p := range payments {
		if err := e.Add(p); err != nil {
			return nil, fmt.Errorf("paysim: %s: %w", accountTitle(d.Name, account), err)
		}
	}
	return e, nil
}

// checkAccounts refuses accounts of no provider, bad account names,
// accounts without their required credentials, two accounts of a
// provider that its fakes could not tell apart, and payments of accounts
// that are not served.
func checkAccounts(cfg Config) error {
	for _, name := range slices.Sorted(maps.Keys(cfg.Accounts)) {
		if _, ok := all.Lookup(name); !ok {
			return fmt.Errorf("paysim: accounts for %q, which is no provider (%s)", name, knownProviders())
		}
	}
	for _, d := range all.List { // in order, so that the same config names the same problem
		name, accounts := d.Name, cfg.Accounts[d.Name]
		seen := map[string]string{} // the credentials the fake checks → the account
		if d.Enabled(cfg.Credentials[name]) {
			seen[checked(d, cfg.Credentials[name])] = "the default account"
		}
		for _, account := range slices.Sorted(maps.Keys(accounts)) {
			creds := accounts[account]
			if problem := paybridge.AccountProblem(account); problem != "" {
				return fmt.Errorf("paysim: %s account %q: its name %s", name, account, problem)
			}
			if !d.Enabled(creds) {
				return fmt.Errorf("paysim: %s: %s", accountTitle(name, account), missing(d, creds))
			}
			if other, ok := seen[checked(d, creds)]; ok {
				return fmt.Errorf("paysim: %s has the credentials of %s: their fakes could not tell their requests apart", accountTitle(name, account), other)
			}
			seen[checked(d, creds)] = "account " + account
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.AccountScenario)) {
		for _, account := range slices.Sorted(maps.Keys(cfg.AccountScenario[name])) {
			if _, served := cfg.Accounts[name][account]; !served && len(cfg.AccountScenario[name][account]) > 0 {
				n := len(cfg.AccountScenario[name][account])
				return fmt.Errorf("paysim: the scenario has %d %s payments, but it is not served", n, accountTitle(name, account))
			}
		}
	}
	return nil
}

// checked is the credentials d's fake checks, as one comparable string.
func checked(d providers.Descriptor, creds providers.Credentials) string {
	var b strings.Builder
	for _, name := range d.Sim.Checks {
		fmt.Fprintf(&b, "%d:%s;", len(creds[name]), creds[name])
	}
	return b.String()
}

// accountTitle names an account in messages: "coinbar account shop-a".
func accountTitle(provider, account string) string {
	if account == "" {
		return provider
	}
	return provider + " account " + account
}

// missing says which required credentials a provider lacks.
func missing(d providers.Descriptor, creds providers.Credentials) string {
	var names []string
	for _, c := range d.Credentials {
		if c.Required && creds[c.Name] == "" {
			names = append(names, c.Name)
		}
	}
	return "no " + strings.Join(names, ", no ")
}

func knownProviders() string {
	var names []string
	for _, d := range all.List {
		names = append(names, d.Name)
	}
	return "known: " + strings.Join(names, ", ")
}

// nameHash makes a provider's own random stream from a seed.
func nameHash(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// streamOf makes an account's own random stream from a seed; the default
// account's ("") is its provider's. "/" is in no provider's or account's
// name, so no two accounts share a stream.
func streamOf(provider, account string) uint64 {
	if account == "" {
		return nameHash(provider)
	}
	return nameHash(provider + "/" + account)
}

// Handler serves every served provider's API under its descriptor's
// Sim.PathPrefix, and GET /healthz.
func (s *Sim) Handler() http.Handler { return s.handler }

// Fake is the fake of the default account of the provider called name,
// to script payments or faults at run time; nil when it is not served.
func (s *Sim) Fake(name string) *fake.Engine { return s.FakeOf(name, "") }

// FakeOf is the fake of a provider's account ("" for the default); nil
// when it is not served.
func (s *Sim) FakeOf(provider, account string) *fake.Engine {
	if f := s.fakes[provider]; f != nil {
		return f.Engine(account)
	}
	return nil
}

// Served are the providers served, in the order of providers/all.
func (s *Sim) Served() []string { return slices.Clone(s.served) }

// Scenario is the payments the simulator was started with.
func (s *Sim) Scenario() Scenario { return s.scenario }

// shutdownGrace is how long in-flight requests get to finish on shutdown.
const shutdownGrace = 5 * time.Second

// Serve answers on ln until ctx is done, then lets in-flight requests
// finish (up to 5s) and returns nil.
func (s *Sim) Serve(ctx context.Context, ln net.Listener) error {
	return ServeHandler(ctx, ln, s.handler)
}

// ServeHandler serves h, the simulator's handler or one wrapping it (a
// meter, say), as Serve does.
func ServeHandler(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("paysim: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close() // requests still delayed by a fault or latency are cut off
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("paysim: %w", err)
	}
	return nil
}
