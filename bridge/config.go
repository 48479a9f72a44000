package bridge

import (
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/events"
)

// MaxCacheSize is the largest CacheSize: the view names its entries with
// int32 indexes (flatlru.go).
const MaxCacheSize = math.MaxInt32

// Config names the NATS assets and sets the limits. DefaultConfig holds
// every default; a zero field of a Config given to New takes it.
type Config struct {
	CheckSubject string
	// QueuedCheckSubject is the durable intake's subject, captured by
	// CheckStream, a work-queue stream every instance consumes.
	QueuedCheckSubject  string
	CheckStream         string
	StatusSubject       string
	EventSubject        string
	WatchExpiredSubject string
	QueueGroup          string
	EventStream         string
	Bucket              string
	// StatusRetention is how long a record is kept after it was last
	// written (a watched payment's, not before its watch ends); then it
	// expires, and a later check of the payment is a first sight again.
	StatusRetention time.Duration
	// OutboxStream holds a note of every claim not yet announced, on
	// OutboxSubject.<key>.<event id>, for the reconciler.
	OutboxStream  string
	OutboxSubject string
	// Replicas of the streams and the bucket the bridge creates: 1 or 3.
	Replicas int
	// MaxInflight bounds the checks processed at once, shared by the
	// providers, first come; each provider also has a reserve of a
	// sixteenth of it (at least one) that only it may use, and a queue of
	// fire-and-forget checks as long as an even share. Lookups have as
	// many slots of their own.
	MaxInflight int
	EventMode   events.Mode
	// CheckTimeout bounds one provider call, retries included. A check
	// may also wait up to 2s for provider budget before it.
	CheckTimeout time.Duration
	// ReconcileInterval is how often unpublished records are looked at;
	// ReconcileGrace is how old a claim must be before anyone but its
	// claimer announces it.
	ReconcileInterval time.Duration
	ReconcileGrace    time.Duration

	// WatchStream holds one durable watch per payment, on
	// WatchSubject.<key>.
	WatchStream  string
	WatchSubject string
	// WatchStreamMaxBytes is the byte limit the watch stream is created
	// with, which JetStream reserves up front; at least 1 MiB. 0, the
	// default, sets none (the stream is bounded by its message count and
	// size), unless the account requires one (docs/contract.md, "The
	// watch stream"). An existing stream keeps its own.
	WatchStreamMaxBytes int64
	// MaxWatches bounds the watches and webhook triggers stored per
	// provider; past it, a watch is refused as overloaded.
	MaxWatches int
	// WatchSchedule is the delay before each re-check of a watched
	// payment, the last repeating; WatchDeadline ends a watch that never
	// settles.
	WatchSchedule []time.Duration
	WatchDeadline time.Duration
	// Accounts are the merchant accounts served beside each provider's
	// default one; nil: none (docs/contract.md, "Accounts").
	Accounts Accounts
	// Limits are per-provider call budgets by provider name; a provider
	// without one is unlimited. Checks wait up to 2s for budget, watches
	// and webhook triggers wait as long as it takes.
	Limits map[string]Rate
	// BreakerThreshold is how many provider calls in a row may fail as
	// unavailable or timed out before the provider's circuit opens;
	// BreakerCooldown is how long it then stays open before one probe
	// call may test it.
	BreakerThreshold int
	BreakerCooldown  time.Duration
	// CacheSize bounds the payments whose record the view keeps, to
	// answer checks without a KV read (about 140 bytes each); the least
	// recently used are forgotten first. At most MaxCacheSize.
	CacheSize int

	// Clock tells the bridge the time; nil is the wall clock. Each
	// instance reads only its own (docs/contract.md, "Clock skew"); tests
	// give instances clocks that differ.
	Clock Clock

	// TracerProvider records the bridge's spans; nil records none. The
	// W3C trace context travels either way (docs/contract.md, "Tracing").
	TracerProvider trace.TracerProvider
	// Logger receives the bridge's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the metrics; nil keeps them private.
	Registerer prometheus.Registerer
}

// DefaultConfig is the configuration of docs/contract.md: the default
// names of every NATS asset and the default limits. serve's flags take
// their defaults from it.
func DefaultConfig() Config {
	return Config{
		CheckSubject:        paybridge.DefaultCheckSubject,
		QueuedCheckSubject:  paybridge.DefaultQueuedCheckSubject,
		CheckStream:         paybridge.DefaultCheckStream,
		StatusSubject:       paybridge.DefaultStatusSubject,
		EventSubject:        paybridge.DefaultStatusChangedSubject,
		WatchExpiredSubject: paybridge.DefaultWatchExpiredSubject,
		QueueGroup:          "paybridge",
		EventStream:         paybridge.DefaultEventStream,
		Bucket:              "payment_status",
		StatusRetention:     30 * 24 * time.Hour,
		OutboxStream:        "PAYMENT_OUTBOX",
		OutboxSubject:       "paybridge.outbox",
		Replicas:            1,
		MaxInflight:         1024,
		EventMode:           events.Binary,
		CheckTimeout:        30 * time.Second,
		ReconcileInterval:   10 * time.Second,
		ReconcileGrace:      20 * time.Second,
		WatchStream:         "PAYMENT_WATCHES",
		WatchSubject:        "paybridge.watch",
		MaxWatches:          100_000,
		WatchSchedule:       []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute},
		WatchDeadline:       24 * time.Hour,
		BreakerThreshold:    5,
		BreakerCooldown:     10 * time.Second,
		CacheSize:           100_000,
	}
}

// withDefaults fills every zero field from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	orDefault(&c.CheckSubject, d.CheckSubject)
	orDefault(&c.QueuedCheckSubject, d.QueuedCheckSubject)
	orDefault(&c.CheckStream, d.CheckStream)
	orDefault(&c.StatusSubject, d.StatusSubject)
	orDefault(&c.EventSubject, d.EventSubject)
	orDefault(&c.WatchExpiredSubject, d.WatchExpiredSubject)
	orDefault(&c.QueueGroup, d.QueueGroup)
	orDefault(&c.EventStream, d.EventStream)
	orDefault(&c.Bucket, d.Bucket)
	orDefault(&c.StatusRetention, d.StatusRetention)
	orDefault(&c.OutboxStream, d.OutboxStream)
	orDefault(&c.OutboxSubject, d.OutboxSubject)
	orDefault(&c.Replicas, d.Replicas)
	orDefault(&c.MaxInflight, d.MaxInflight)
	orDefault(&c.CheckTimeout, d.CheckTimeout)
	orDefault(&c.ReconcileInterval, d.ReconcileInterval)
	orDefault(&c.ReconcileGrace, d.ReconcileGrace)
	orDefault(&c.WatchStream, d.WatchStream)
	orDefault(&c.WatchSubject, d.WatchSubject)
	orDefault(&c.MaxWatches, d.MaxWatches)
	orDefault(&c.WatchDeadline, d.WatchDeadline)
	orDefault(&c.BreakerThreshold, d.BreakerThreshold)
	orDefault(&c.BreakerCooldown, d.BreakerCooldown)
	orDefault(&c.CacheSize, d.CacheSize)
	if len(c.WatchSchedule) == 0 {
		c.WatchSchedule = d.WatchSchedule
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = wallClock{}
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	return c
}

// orDefault sets *v to def when it is the zero value.
func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
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
	if c.StatusRetention < time.Second {
		return fmt.Errorf("status retention must be at least 1s, got %s", c.StatusRetention)
	}
	if c.CacheSize < 1 || c.CacheSize > MaxCacheSize {
		return fmt.Errorf("cache size must be between 1 and %d, got %d", MaxCacheSize, c.CacheSize)
	}
	for _, d := range c.WatchSchedule {
		if d <= 0 {
			return fmt.Errorf("watch schedule steps must be positive, got %s", d)
		}
	}
	if c.MaxWatches < 1 {
		return fmt.Errorf("max watches must be at least 1, got %d", c.MaxWatches)
	}
	if c.WatchStreamMaxBytes != 0 && c.WatchStreamMaxBytes < minStreamBytes {
		return fmt.Errorf("watch stream max bytes must be 0 (none) or at least 1 MiB (%d), got %d", minStreamBytes, c.WatchStreamMaxBytes)
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{
		{"watch deadline", c.WatchDeadline}, {"check timeout", c.CheckTimeout},
		{"reconcile interval", c.ReconcileInterval}, {"reconcile grace", c.ReconcileGrace},
	} {
		if d.value < 0 {
			return fmt.Errorf("%s must be positive, got %s", d.name, d.value)
		}
	}
	for _, s := range []string{c.CheckSubject, c.QueuedCheckSubject, c.StatusSubject, c.EventSubject, c.WatchExpiredSubject, c.WatchSubject, c.OutboxSubject} {
		if problem := paybridge.SubjectProblem(s); problem != "" {
			return fmt.Errorf("subject %q is not a valid NATS subject without wildcards: it %s", s, problem)
		}
	}
	return nil
}
