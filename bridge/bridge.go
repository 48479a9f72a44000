// Package bridge is paybridge's NATS side: the micro service that takes
// check requests, the checker that asks providers and records status
// changes in JetStream KV, the publisher of CloudEvents, the reconciler
// that makes sure no claimed change goes unannounced, the watcher that
// re-checks payments until they settle, and the provider webhooks that
// trigger it.
//
// The path of one check: service.go (intake) → checker.go (the algorithm)
// → store.go (compare-and-set) → publisher.go (the event).
package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/events"
)

// Version is the micro service version.
const Version = "0.1.0"

// Config names the NATS assets and sets the limits. Zero fields take the
// defaults of SPEC section 2.
type Config struct {
	CheckSubject        string // payments.check
	StatusSubject       string // payments.status.get
	EventSubject        string // payments.status.changed
	WatchExpiredSubject string // payments.watch.expired
	QueueGroup          string // paybridge
	EventStream         string // PAYMENT_EVENTS
	Bucket              string // payment_status
	Replicas            int    // 1 or 3
	MaxInflight         int    // 1024
	EventMode           events.Mode
	// CheckTimeout bounds one provider call, retries included (30s). A
	// check may also wait up to 2s for provider budget before it.
	CheckTimeout time.Duration
	// ReconcileInterval is how often unpublished records are looked at
	// (10s); ReconcileGrace is how old one must be before the reconciler
	// takes over from its claimer (20s).
	ReconcileInterval time.Duration
	ReconcileGrace    time.Duration

	// WatchStream holds one durable watch per payment (PAYMENT_WATCHES),
	// on WatchSubject.<key> (paybridge.watch).
	WatchStream  string
	WatchSubject string
	// MaxWatches bounds the watches and webhook triggers stored per
	// provider (100,000); past it, a watch is refused as overloaded.
	MaxWatches int
	// WatchSchedule is the delay before each re-check of a watched payment,
	// the last repeating (10s,30s,1m,2m,5m,10m); WatchDeadline ends a
	// watch that never settles (24h).
	WatchSchedule []time.Duration
	WatchDeadline time.Duration
	// Limits are per-provider call budgets by provider name; a provider
	// without one is unlimited. Checks wait up to 2s for budget, watches
	// and webhook triggers wait as long as it takes.
	Limits map[string]Rate
	// CoinbarClientID is the SERVICE_CLIENT_ID a CoinbarPay callback must
	// carry; empty refuses every CoinbarPay webhook.
	CoinbarClientID string
	// MuvinaiWebhookToken is the token a Muvinai webhook URL must carry;
	// empty refuses every Muvinai webhook.
	MuvinaiWebhookToken string
	// BreakerThreshold is how many provider calls in a row may fail as
	// unavailable or timed out before the provider's circuit opens (5);
	// BreakerCooldown is how long it then stays open before one probe
	// call may test it (10s).
	BreakerThreshold int
	BreakerCooldown  time.Duration
	// ViewSize bounds the records kept in memory to answer checks
	// without a KV read (100,000, a few hundred bytes each).
	ViewSize int

	Logger *slog.Logger
	// Registerer receives the metrics; nil keeps them private.
	Registerer prometheus.Registerer
}

func (c Config) withDefaults() Config {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.CheckSubject, "payments.check")
	def(&c.StatusSubject, "payments.status.get")
	def(&c.EventSubject, "payments.status.changed")
	def(&c.WatchExpiredSubject, "payments.watch.expired")
	def(&c.QueueGroup, "paybridge")
	def(&c.EventStream, "PAYMENT_EVENTS")
	def(&c.Bucket, "payment_status")
	def(&c.WatchStream, "PAYMENT_WATCHES")
	def(&c.WatchSubject, "paybridge.watch")
	if len(c.WatchSchedule) == 0 {
		c.WatchSchedule = []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute}
	}
	if c.WatchDeadline == 0 {
		c.WatchDeadline = 24 * time.Hour
	}
	if c.MaxWatches == 0 {
		c.MaxWatches = 100_000
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = 1024
	}
	if c.CheckTimeout == 0 {
		c.CheckTimeout = 30 * time.Second
	}
	if c.BreakerThreshold == 0 {
		c.BreakerThreshold = 5
	}
	if c.BreakerCooldown == 0 {
		c.BreakerCooldown = 10 * time.Second
	}
	if c.ViewSize == 0 {
		c.ViewSize = 100_000
	}
	if c.ReconcileInterval == 0 {
		c.ReconcileInterval = 10 * time.Second
	}
	if c.ReconcileGrace == 0 {
		c.ReconcileGrace = 20 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	return c
}

func (c Config) validate() error {
	if c.Replicas != 1 && c.Replicas != 3 {
		return fmt.Errorf("replicas must be 1 or 3, got %d", c.Replicas)
	}
	if c.BreakerThreshold < 1 || c.BreakerCooldown <= 0 {
		return fmt.Errorf("breaker needs a threshold of at least 1 and a positive cooldown, got %d and %s", c.BreakerThreshold, c.BreakerCooldown)
	}
	if c.MaxInflight < 1 {
		return fmt.Errorf("max in-flight must be at least 1, got %d", c.MaxInflight)
	}
	for _, d := range c.WatchSchedule {
		if d <= 0 {
			return fmt.Errorf("watch schedule steps must be positive, got %s", d)
		}
	}
	if c.MaxWatches < 1 {
		return fmt.Errorf("max watches must be at least 1, got %d", c.MaxWatches)
	}
	if c.WatchDeadline < 0 {
		return fmt.Errorf("watch deadline must be positive, got %s", c.WatchDeadline)
	}
	for _, s := range []string{c.CheckSubject, c.StatusSubject, c.EventSubject, c.WatchExpiredSubject, c.WatchSubject} {
		if !validSubject(s) {
			return fmt.Errorf("subject %q is not a valid NATS subject without wildcards", s)
		}
	}
	return nil
}

// validSubject reports whether s is a literal NATS subject.
func validSubject(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '*' || c == '>' || c <= ' ' || c == 0x7f:
			return false
		case c == '.' && s[i+1] == '.':
			return false
		}
	}
	return true
}

// Bridge is one paybridge instance on a NATS connection. Several instances
// on one NATS system share the work and publish each change once.
type Bridge struct {
	cfg        Config
	nc         *nats.Conn
	checker    *checker
	reconciler *reconciler
	metrics    *metrics
	service    *service
	started    atomic.Bool // set once Start has wired everything
	stopBg     context.CancelFunc
	bg         sync.WaitGroup
	closeOnce  sync.Once
}

// New prepares a bridge for the given providers; Start puts it to work.
func New(nc *nats.Conn, cfg Config, provs ...paybridge.Provider) (*Bridge, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]paybridge.Provider, len(provs))
	breakers := make(map[string]*breaker, len(provs))
	for _, p := range provs {
		if _, dup := byName[p.Name()]; dup {
			return nil, fmt.Errorf("provider %q configured twice", p.Name())
		}
		byName[p.Name()] = p
		breakers[p.Name()] = newBreaker(cfg.BreakerThreshold, cfg.BreakerCooldown)
	}
	return &Bridge{
		cfg:     cfg,
		nc:      nc,
		metrics: m,
		checker: &checker{
			providers:    byName,
			eventSubject: cfg.EventSubject,
			callTimeout:  cfg.CheckTimeout,
			budgets:      newBudgets(cfg.Limits),
			breakers:     breakers,
			view:         newView(cfg.ViewSize),
			finished:     newFinishedCalls(),
			claimGrace:   cfg.ReconcileGrace,
			abandoned:    newAbandonedClaims(),
			log:          cfg.Logger,
			metrics:      m,
			now:          func() time.Time { return time.Now().UTC() },
		},
	}, nil
}

// Start creates the stream and bucket when missing, starts the reconciler
// and begins taking requests.
func (b *Bridge) Start(ctx context.Context) error {
	js, err := jetstream.New(b.nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	if err := ensureEventStream(ctx, js, b.cfg); err != nil {
		return err
	}
	kv, err := ensureStatusBucket(ctx, js, b.cfg)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(b.checker.providers))
	for name := range b.checker.providers {
		names = append(names, name)
	}
	watchStream, watchConsumers, err := ensureWatches(ctx, js, b.cfg, b.cfg.Logger, names)
	if err != nil {
		return err
	}
	b.checker.store = &statusStore{kv: kv}
	b.checker.publisher = &publisher{js: js, mode: b.cfg.EventMode, retries: 3, metrics: b.metrics}
	b.checker.watcher = &watcher{
		js: js, stream: watchStream, consumers: watchConsumers, checker: b.checker,
		subject: b.cfg.WatchSubject, schedule: b.cfg.WatchSchedule, deadline: b.cfg.WatchDeadline, maxWatches: b.cfg.MaxWatches,
		expired: b.cfg.WatchExpiredSubject, log: b.cfg.Logger, metrics: b.metrics, now: b.checker.now,
		held: make(chan struct{}, maxHeldWatches),
	}

	bgCtx, cancel := context.WithCancel(context.Background())
	b.stopBg = cancel
	b.reconciler = &reconciler{kv: kv, checker: b.checker, interval: b.cfg.ReconcileInterval,
		grace: b.cfg.ReconcileGrace, log: b.cfg.Logger, metrics: b.metrics}
	b.bg.Go(func() { b.reconciler.run(bgCtx) })
	b.bg.Go(func() { b.checker.watcher.refreshGauge(bgCtx) })
	b.bg.Go(func() {
		if err := b.checker.watcher.run(bgCtx); err != nil {
			b.cfg.Logger.Error("watches stopped", "error", err)
		}
	})

	b.started.Store(true)
	b.service, err = startService(b.nc, b.cfg, b.checker, b.metrics)
	if err != nil {
		b.Close(ctx)
		return err
	}
	return nil
}

// Close stops taking requests, lets those in flight finish and be answered
// (until ctx ends), then stops the background work. The NATS connection
// stays open; it belongs to the caller.
func (b *Bridge) Close(ctx context.Context) error {
	var err error
	b.closeOnce.Do(func() {
		if b.service != nil {
			err = b.service.stop(ctx)
		}
		if b.stopBg != nil {
			b.stopBg()
		}
		b.bg.Wait()
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("requests still in flight at the close deadline: %w", err)
	}
	return err
}
