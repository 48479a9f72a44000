// Package bridge is paybridge's NATS side: the micro service that takes
// check requests, the checker that asks providers, the claimer that records
// status changes in JetStream KV and announces them as CloudEvents, the
// reconciler that makes sure no claimed change goes unannounced, the
// watcher that re-checks payments until they settle, and the provider
// webhooks that trigger it. docs/contract.md is the contract it keeps.
//
// The steps of one check, in four files: service.go (the intake: decode,
// route to the provider's share of in-flight checks) → checker.go (ask the
// provider once for every concurrent check, build the reply) → claim.go
// (the transition guard, the compare-and-set claim, the announcement, with
// the Store, Announcer and Outbox contracts) → jetstream.go (those
// contracts on the status bucket, the event stream and the outbox). Each
// step leans on helpers of one concern each: request.go and jsonscan.go
// (the request's rules), pool.go (in-flight shares), breaker.go, budget.go
// and coalesce.go (around the provider call), view.go and unannounced.go
// (what the claimer remembers), metrics.go.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge"
)

// Version is the micro service version.
const Version = "0.1.0"

// Bridge is one paybridge instance on a NATS connection. Several instances
// on one NATS system share the work and publish each change once.
type Bridge struct {
	cfg        Config
	nc         *nats.Conn
	metrics    *metrics
	tracing    tracing
	checker    *checker
	watcher    *watcher
	follower   *follower
	reconciler *reconciler
	service    *service
	queued     jetstream.Consumer // the durable intake's
	stopIntake context.CancelFunc
	intakeDone chan struct{}
	stopBg     context.CancelFunc
	bg         sync.WaitGroup
	closeOnce  sync.Once
}

// New creates the streams, the bucket and the consumers the bridge needs
// when missing (docs/contract.md, "NATS assets"), and wires its parts for
// the given providers, the clients of their default accounts, and the
// merchant accounts of Config.Accounts. Start puts it to work.
func New(ctx context.Context, nc *nats.Conn, cfg Config, provs ...paybridge.Provider) (*Bridge, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, p := range provs {
		if seen[p.Name()] {
			return nil, fmt.Errorf("provider %q configured twice", p.Name())
		}
		seen[p.Name()] = true
	}
	merchants := newMerchants(provs, cfg.Limits, cfg.Accounts, func() *breaker {
		return newBreaker(cfg.BreakerThreshold, cfg.BreakerCooldown)
	})
	if err := m.watchAccounts(merchants); err != nil {
		return nil, err
	}

	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if err := ensureEventStream(ctx, js, cfg); err != nil {
		return nil, err
	}
	kv, takesTTL, err := ensureStatusBucket(ctx, js, cfg, cfg.Logger)
	if err != nil {
		return nil, err
	}
	outbox, err := ensureOutbox(ctx, js, cfg)
	if err != nil {
		return nil, err
	}
	watchStream, watchConsumers, scheduledWatches, err := ensureWatches(ctx, js, cfg, cfg.Logger, merchants.providers)
	if err != nil {
		return nil, err
	}
	queued, err := ensureCheckStream(ctx, js, cfg)
	if err != nil {
		return nil, err
	}

	t := newTracing(cfg.TracerProvider)
	cache := newView(cfg.CacheSize, m)
	if err := m.watchView(cache); err != nil {
		return nil, err
	}
	store := &kvStore{kv: kv, js: js, subject: "$KV." + cfg.Bucket + ".", tracing: t}
	if takesTTL {
		store.retention = cfg.StatusRetention
	}
	claims := &claimer{
		store:       store,
		outbox:      &streamOutbox{js: js, stream: outbox, subject: cfg.OutboxSubject},
		announcer:   &streamAnnouncer{js: js, mode: cfg.EventMode, retries: 3, metrics: m, tracing: t},
		subject:     cfg.EventSubject,
		view:        cache,
		unannounced: newUnannounced(cfg.ReconcileGrace, cfg.Clock),
		grace:       cfg.ReconcileGrace,
		log:         cfg.Logger,
		metrics:     m,
		clock:       cfg.Clock,
	}
	w := &watcher{
		js: js, stream: watchStream, consumers: watchConsumers, scheduled: scheduledWatches, merchants: merchants, claims: claims,
		subject: cfg.WatchSubject, schedule: cfg.WatchSchedule, deadline: cfg.WatchDeadline, maxWatches: cfg.MaxWatches,
		callTimeout: cfg.CheckTimeout,
		expired:     cfg.WatchExpiredSubject, log: cfg.Logger, metrics: m, clock: cfg.Clock, tracing: t,
		held: newHeldWatches(), counts: make(map[string]watchCount),
	}
	return &Bridge{
		cfg:     cfg,
		nc:      nc,
		queued:  queued,
		metrics: m,
		tracing: t,
		watcher: w,
		checker: &checker{
			merchants:   merchants,
			claims:      claims,
			watches:     w,
			rechecks:    w,
			callTimeout: cfg.CheckTimeout,
			finished:    newFinishedCalls(),
			log:         cfg.Logger,
			metrics:     m,
			clock:       cfg.Clock,
			tracing:     t,
		},
		follower: &follower{js: js, stream: "KV_" + cfg.Bucket, prefix: store.subject, view: cache, rechecks: w,
			log: cfg.Logger, clock: cfg.Clock},
		reconciler: &reconciler{claims: claims, interval: cfg.ReconcileInterval,
			grace: cfg.ReconcileGrace, log: cfg.Logger, metrics: m, clock: cfg.Clock},
	}, nil
}

// Start runs the reconciler, the watches and the durable intake, and begins
// taking requests. Everything it starts runs until Close, which drains it
// within Close's context: there is no second context that could stop half
// of it.
func (b *Bridge) Start() error {
	bgCtx, cancel := context.WithCancel(context.Background())
	b.stopBg = cancel
	b.bg.Go(func() { b.follower.run(bgCtx) })
	b.bg.Go(func() { b.reconciler.run(bgCtx) })
	b.bg.Go(func() { b.watcher.refreshGauge(bgCtx) })
	b.bg.Go(func() {
		if err := b.watcher.run(bgCtx, b.checker); err != nil {
			b.cfg.Logger.Error("watches stopped", "error", err)
		}
	})
	var err error
	b.service, err = startService(b.nc, b.cfg, b.checker, b.metrics, b.tracing)
	if err != nil {
		b.Close(context.Background())
		return err
	}
	in := &intake{consumer: b.queued, service: b.service, log: b.cfg.Logger,
		given: newSummary(b.cfg.Logger, summaryInterval, "queued checks given up: their provider kept failing")}
	intakeCtx, stopIntake := context.WithCancel(context.Background())
	b.stopIntake, b.intakeDone = stopIntake, make(chan struct{})
	go func() {
		defer close(b.intakeDone)
		defer in.given.stop()
		in.run(intakeCtx)
	}()
	return nil
}

// InFlight is how many checks, lookups and watch re-checks this instance
// is working on now: what its memory follows beyond the view of the
// bucket (goroutines, provider connections, buffers).
func (b *Bridge) InFlight() int {
	n := b.watcher.held.held()
	if b.service != nil {
		n += int(b.service.running.Load())
	}
	return n
}

// Close stops taking requests, lets those in flight finish and be answered,
// then stops the background work and waits for it, all until ctx ends: a
// watch's provider call or claim still running then is left to end on its
// own deadline (a watch not acknowledged is delivered again). The NATS
// connection stays open; it belongs to the caller.
func (b *Bridge) Close(ctx context.Context) error {
	var err error
	b.closeOnce.Do(func() {
		if b.stopIntake != nil {
			// No queued check is taken from now on; those taken are the
			// service's to finish.
			b.stopIntake()
			<-b.intakeDone
		}
		if b.service != nil {
			if err = b.service.stop(ctx); errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("requests still in flight at the close deadline: %w", err)
			}
		}
		if b.stopBg != nil {
			b.stopBg()
		}
		stopped := make(chan struct{})
		go func() {
			b.bg.Wait()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-ctx.Done():
			select {
			case <-stopped:
			default:
				err = errors.Join(err, fmt.Errorf("background work still running at the close deadline: %w", ctx.Err()))
			}
		}
	})
	return err
}
