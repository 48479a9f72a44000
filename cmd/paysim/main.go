// Command paysim simulates every provider's payment status API (those of
// providers/all) on one port, with scripted payments that move through their statuses
// and optional latency and failures, for paybridge demos and tests.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/lmittmann/tint"

	"github.com/paybridge/paybridge/accounts"
	"github.com/paybridge/paybridge/cmd/paysim/sim"
	"github.com/paybridge/paybridge/internal/cli"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/all"
	"github.com/paybridge/paybridge/providers/fake"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if code := cli.ExitCode(err); code != 0 {
		fmt.Fprintln(os.Stderr, "paysim:", err)
		os.Exit(code)
	}
}

// options are the command line, parsed and checked.
type options struct {
	listen    string
	config    sim.Config
	logFormat string
	payments  int
	prefix    string
	scenario  string
	latency   string
	// accountsDir holds merchant accounts, as paybridge serve reads them.
	accountsDir string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("paysim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8090", "address to serve every provider's API on")
	o.config.Credentials = sim.CredentialFlags(fs)
	fs.StringVar(&o.accountsDir, "accounts-dir", "", "`directory` of merchant accounts, <directory>/<provider>/<account>/ with one file per credential, as paybridge serve --accounts-dir reads it: each account is served beside the flags' credentials, with its own payments (the generated ids, drawn apart); read once at start; empty: none")
	fs.StringVar(&o.scenario, "scenario", "", "JSON file of scripted payments per provider (see testdata/scenario.json)")
	fs.IntVar(&o.payments, "payments", 5, "payments to generate per provider, pending at first and settling over time")
	fs.StringVar(&o.prefix, "prefix", "sim-", "id prefix of generated payments: <prefix><provider>-0001")
	fs.Uint64Var(&o.config.Seed, "seed", 1, "seed of generated payments, latencies and faults")
	fs.StringVar(&o.latency, "latency", "", "delay of every answer: a duration (50ms) or a range (10ms-80ms)")
	fs.Float64Var(&o.config.FaultRate, "fault-rate", 0, "share (0..1) of answers that fail with a 5xx or a 429")
	fs.StringVar(&o.logFormat, "log-format", "text", "request log format: text or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return options{}, err
		}
		return options{}, cli.UsageError{Err: err} // the flag package printed the usage
	}
	if fs.NArg() > 0 {
		return options{}, cli.Usagef("unexpected argument %q", fs.Arg(0))
	}
	if o.payments < 0 {
		return options{}, cli.Usagef("--payments must not be negative, got %d", o.payments)
	}
	if o.config.FaultRate < 0 || o.config.FaultRate > 1 {
		return options{}, cli.Usagef("--fault-rate must be between 0 and 1, got %v", o.config.FaultRate)
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return options{}, cli.Usagef("--log-format must be text or json, got %q", o.logFormat)
	}
	var err error
	if o.config.LatencyMin, o.config.LatencyMax, err = parseLatency(o.latency); err != nil {
		return options{}, cli.UsageError{Err: err}
	}
	if o.config.Accounts, err = readAccounts(o.accountsDir); err != nil {
		return options{}, cli.UsageError{Err: fmt.Errorf("--accounts-dir: %w", err)}
	}
	return o, nil
}

// readAccounts reads the merchant accounts under dir with the reader
// paybridge serve uses, so that one directory serves both; "" is none.
func readAccounts(dir string) (map[string]map[string]providers.Credentials, error) {
	if dir == "" {
		return nil, nil
	}
	switch info, err := os.Stat(dir); {
	case err != nil:
		return nil, err
	case !info.IsDir():
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	return accounts.Credentials(dir, all.List)
}

// parseLatency reads "50ms" (fixed) or "10ms-80ms" (a range); "" is none.
func parseLatency(s string) (time.Duration, time.Duration, error) {
	if s == "" {
		return 0, 0, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	minDelay, err1 := time.ParseDuration(lo)
	maxDelay, err2 := time.ParseDuration(hi)
	if err1 != nil || err2 != nil || minDelay < 0 || maxDelay < minDelay {
		return 0, 0, fmt.Errorf("--latency %q must be a duration such as 50ms or a range such as 10ms-80ms", s)
	}
	return minDelay, maxDelay, nil
}

func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	f, isFile := w.(*os.File)
	colour := false
	if isFile {
		info, err := f.Stat()
		colour = err == nil && info.Mode()&os.ModeCharDevice != 0
	}
	return slog.New(tint.NewHandler(w, &tint.Options{NoColor: !colour, TimeFormat: time.TimeOnly}))
}

// run is paysim: it serves until ctx is done. The banner goes to stdout,
// the request log to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg := o.config
	cfg.Logger = newLogger(o.logFormat, stderr)
	if o.scenario != "" {
		if cfg.Scenario, cfg.AccountScenario, err = sim.LoadScenario(o.scenario); err != nil {
			return err
		}
	}
	if cfg.Scenario == nil {
		cfg.Scenario = sim.Scenario{}
	}
	if cfg.AccountScenario == nil {
		cfg.AccountScenario = sim.AccountScenario{}
	}
	for name, payments := range sim.Generate(o.payments, o.prefix, cfg.Seed) {
		if d, _ := all.Lookup(name); d.Enabled(cfg.Credentials[name]) {
			cfg.Scenario[name] = append(cfg.Scenario[name], payments...)
		}
	}
	for name, byAccount := range sim.GenerateAccounts(o.payments, o.prefix, cfg.Seed, cfg.Accounts) {
		for account, payments := range byAccount {
			if cfg.AccountScenario[name] == nil {
				cfg.AccountScenario[name] = map[string][]fake.Payment{}
			}
			cfg.AccountScenario[name][account] = append(cfg.AccountScenario[name][account], payments...)
		}
	}
	s, err := sim.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	printBanner(stdout, "http://"+ln.Addr().String(), cfg)
	return s.Serve(ctx, ln)
}
