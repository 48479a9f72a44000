package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/trace"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/accounts"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/internal/cli"
	"github.com/paybridge/paybridge/natsembed"
	"github.com/paybridge/paybridge/providers"
)

// drainTimeout bounds the shutdown: in-flight checks, HTTP, NATS.
const drainTimeout = 30 * time.Second

// runServe is `paybridge serve`: it runs until ctx ends; Close drains.
func (m *Main) runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, f, err := parseServe(args, m.LookupEnv)
	m.secrets.add(cfg.secrets()...)
	if errors.Is(err, flag.ErrHelp) {
		f.printUsage(stdout)
	}
	if err != nil {
		return err
	}
	memory := tuneGC(m.LookupEnv, cfg.bridge.CacheSize)
	log := cfg.log.logger(stderr, &m.secrets)
	s, err := m.startServer(ctx, cfg, log)
	if err != nil && ctx.Err() != nil {
		// A signal during the start: whatever it cut short (the wait for
		// NATS, the bridge's setup) was asked to stop, which is no error.
		log.Info("shutting down: signalled while starting")
		return nil
	}
	if err != nil {
		return err
	}
	if memory != nil {
		var tuning sync.WaitGroup
		defer tuning.Wait()
		tuned, stop := context.WithCancel(ctx)
		defer stop()
		tuning.Go(func() { memory.follow(tuned, s.bridge.InFlight) })
	}
	return s.wait(ctx)
}

// server is one running bridge with what it stands on: the HTTP servers,
// the NATS connection and, without --nats-url, the embedded NATS server.
type server struct {
	log         *slog.Logger
	natsURL     string   // where clients reach the NATS server
	httpAddr    net.Addr // webhooks, /healthz, /readyz
	adminAddr   net.Addr // /metrics, /debug/pprof, /healthz, /readyz
	httpServers []*http.Server
	failed      chan error // why serve must exit, when it must
	embedded    *natsserver.Server
	// unlockDataDir lets another process use --data-dir; nil with --nats-url.
	unlockDataDir func()
	nc            *nats.Conn
	jetStream     *jetStreamProbe // set with nc
	bridge        *bridge.Bridge
	webhooks      atomic.Pointer[http.Handler] // the bridge's, once it exists
	started       atomic.Bool                  // the bridge takes requests
	draining      atomic.Bool                  // Close has begun
	natsGone      atomic.Bool                  // the NATS connection is closed for good
	// following rereads --accounts-dir until stopFollowing; nil without it.
	following     sync.WaitGroup
	stopFollowing func()
}

// wait runs until ctx ends (nil: Close then drains) or something serve
// cannot go on without fails (the error).
func (s *server) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		s.log.Info("shutting down: finishing in-flight checks", "timeout", drainTimeout)
		return nil
	case err := <-s.failed:
		return err
	}
}

// fail makes wait return err; the first failure is the one reported.
func (s *server) fail(err error) {
	select {
	case s.failed <- err:
	default:
	}
}

// startServer starts everything serve runs and registers its shutdown
// with m.Close, also when it fails half way.
func (m *Main) startServer(ctx context.Context, cfg serveConfig, log *slog.Logger) (*server, error) {
	tp, err := cfg.tracing.tracerProvider(ctx, m.LookupEnv, log)
	if err != nil {
		return nil, err
	}
	var tracer trace.TracerProvider // nil: no spans recorded
	if tp != nil {
		tracer = tp
		// Closed after serve (registered first, closed last), so that the
		// spans of the drain are exported too.
		m.onClose("tracing", tp.Shutdown)
	}
	provs, err := newProviders(cfg, log, tracer)
	if err != nil {
		return nil, err
	}
	s := &server{log: log, failed: make(chan error, 1)}
	m.onClose("serve", s.close)
	var accountsDir *accounts.Dir
	if cfg.accountsDir != "" {
		if accountsDir, err = s.followAccounts(cfg, log, httpOptions(log, tracer), m.secrets.add); err != nil {
			return nil, err
		}
	}
	if cfg.nats.url == "" {
		// Before anything listens: nats-server reports a store it cannot
		// write only by never becoming ready, which reads as a port problem.
		if err := natsembed.CheckStoreDir(cfg.dataDir); err != nil {
			return nil, cli.UsageError{Err: fmt.Errorf("--data-dir: %w", err)}
		}
		if s.unlockDataDir, err = lockDataDir(cfg.dataDir); err != nil {
			return nil, err
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		// What /readyz says, for alerts on instances rather than probes.
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "paybridge_ready",
			Help: "1 when /readyz answers 200 (the bridge has started, its NATS connection is connected and JetStream answers), else 0.",
		}, func() float64 {
			if s.readiness() == "" {
				return 1
			}
			return 0
		}))
	if err := s.startHTTP(cfg, reg); err != nil {
		return nil, err
	}
	s.natsURL = cfg.nats.url
	if s.natsURL == "" {
		if err := s.startEmbedded(cfg); err != nil {
			return nil, err
		}
	}
	if s.nc, err = cfg.nats.connectPatiently(ctx, s.natsURL, log); err != nil {
		return nil, err
	}
	s.nc.SetClosedHandler(s.natsClosed)
	if s.nc.IsClosed() { // before the handler was set
		s.natsClosed(s.nc)
	}
	if s.jetStream, err = newJetStreamProbe(s.nc); err != nil {
		return nil, err
	}
	bcfg := cfg.bridge
	bcfg.Logger, bcfg.Registerer, bcfg.TracerProvider = log, reg, tracer
	if accountsDir != nil {
		bcfg.Accounts = accountsDir
	}
	if s.bridge, err = bridge.New(ctx, s.nc, bcfg, provs...); err != nil {
		return nil, fmt.Errorf("starting the bridge: %w", err)
	}
	webhooks := s.bridge.Webhooks()
	s.webhooks.Store(&webhooks)
	if err := s.bridge.Start(); err != nil {
		return nil, fmt.Errorf("starting the bridge: %w", err)
	}
	s.started.Store(true)
	var names []string
	for _, p := range cfg.providers {
		if p.enabled() {
			names = append(names, p.Name)
		}
	}
	log.Info("paybridge ready", "providers", strings.Join(names, ","), "nats", redactURLs(s.natsURL),
		"http", s.httpAddr.String(), "admin", s.adminAddr.String(), "replicas", bcfg.Replicas, "event_mode", bcfg.EventMode.String())
	return s, nil
}

// httpOptions configure every provider client: tp, when not nil, records
// a span per HTTP attempt.
func httpOptions(log *slog.Logger, tp trace.TracerProvider) []providers.HTTPOption {
	opts := []providers.HTTPOption{providers.WithLogger(log)}
	if tp != nil {
		opts = append(opts, providers.WithTracerProvider(tp))
	}
	return opts
}

// newProviders builds the client of each provider's default account, for
// those whose flags configure one.
func newProviders(cfg serveConfig, log *slog.Logger, tp trace.TracerProvider) ([]paybridge.Provider, error) {
	httpOpts := httpOptions(log, tp)
	var provs []paybridge.Provider
	for _, p := range cfg.providers {
		if !p.hasDefault() {
			continue
		}
		c, err := p.New(p.baseURL, p.credentials, httpOpts...)
		if err != nil {
			return nil, cli.UsageError{Err: err}
		}
		provs = append(provs, c)
	}
	return provs, nil
}

// accountsReload is how often --accounts-dir is read again: the
// contract's ten seconds for a change leave room for a Kubernetes Secret
// volume's own delay.
const accountsReload = 2 * time.Second

// followAccounts reads --accounts-dir for every served provider, each
// account's secrets handed to secrets before any client uses them, and
// rereads it every accountsReload until close.
func (s *server) followAccounts(cfg serveConfig, log *slog.Logger, httpOpts []providers.HTTPOption, secrets func(...string)) (*accounts.Dir, error) {
	acfg := accounts.Config{Root: cfg.accountsDir, BaseURLs: map[string]string{}, HTTPOptions: httpOpts, Secrets: secrets, Logger: log}
	for _, p := range cfg.providers {
		if p.enabled() {
			acfg.Providers = append(acfg.Providers, p.Descriptor)
			acfg.BaseURLs[p.Name] = p.baseURL
		}
	}
	dir, err := accounts.Open(acfg)
	if err != nil {
		return nil, cli.UsageError{Err: fmt.Errorf("--accounts-dir: %w", err)}
	}
	done := make(chan struct{})
	s.following.Go(func() { dir.Follow(done, accountsReload) })
	s.stopFollowing = func() { close(done); s.following.Wait() }
	for _, p := range acfg.Providers {
		log.Info("merchant accounts read", "provider", p.Name, "accounts", dir.Count(p.Name), "directory", cfg.accountsDir)
	}
	return dir, nil
}

func (s *server) startEmbedded(cfg serveConfig) error {
	host, port, _ := natsembed.ParseListen(cfg.embeddedListen) // checked by parseServe
	ns, err := natsembed.Start(natsembed.Config{Host: host, Port: port, StoreDir: cfg.dataDir})
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("--embedded-listen: %w (another NATS server? point --nats-url at it)", err)
	case err != nil:
		return fmt.Errorf("starting the embedded NATS server: %w", err)
	}
	s.embedded, s.natsURL = ns, ns.ClientURL()
	s.log.Info("embedded NATS started", "url", s.natsURL, "data_dir", cfg.dataDir)
	return nil
}

// natsClosed runs when the NATS connection is closed for good. Unless
// serve closed it, nats.go gave up on it (the server refused the
// credentials twice in a row, say), which no waiting can mend: serve exits
// non-zero so that its supervisor restarts it, and /healthz fails meanwhile.
func (s *server) natsClosed(nc *nats.Conn) {
	if s.natsGone.Swap(true) || s.draining.Load() {
		return
	}
	err := closedError(nc)
	s.log.Error("exiting: the NATS connection is closed and will not reconnect", "error", err)
	s.fail(err)
}

// readiness is "" when the bridge takes requests, else why not. Whether
// JetStream answers is asked at most every jetStreamProbeEvery.
func (s *server) readiness() string {
	switch {
	case s.draining.Load():
		return "shutting down"
	case !s.started.Load():
		return "starting"
	case s.nc.Status() != nats.CONNECTED:
		return "NATS connection " + strings.ToLower(s.nc.Status().String())
	}
	return s.jetStream.unavailable()
}

// close shuts down in dependency order: the bridge stops taking requests
// and answers those in flight, then HTTP, then the NATS connection is
// drained, then the embedded server stops.
func (s *server) close(ctx context.Context) error {
	s.draining.Store(true)
	var errs []error
	if s.bridge != nil {
		if err := s.bridge.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("bridge: %w", err))
		}
	}
	if s.stopFollowing != nil {
		s.stopFollowing()
	}
	for _, srv := range s.httpServers {
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
			errs = append(errs, fmt.Errorf("HTTP: %w", err))
		}
	}
	if s.nc != nil {
		drain(ctx, s.nc)
	}
	if s.embedded != nil {
		s.embedded.Shutdown()
		s.embedded.WaitForShutdown()
	}
	if s.unlockDataDir != nil {
		s.unlockDataDir()
	}
	if len(errs) == 0 {
		s.log.Info("stopped")
	}
	return errors.Join(errs...)
}

// drain lets the connection deliver what it holds, then closes it; at
// ctx's end it closes it anyway.
func drain(ctx context.Context, nc *nats.Conn) {
	closed := nc.StatusChanged(nats.CLOSED)
	defer nc.RemoveStatusListener(closed)
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	select {
	case <-closed:
	case <-ctx.Done():
		nc.Close()
	}
}
