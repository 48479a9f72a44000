package bridge

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paybridge/paybridge"
)

// metrics are the bridge's Prometheus series, all under "paybridge_".
type metrics struct {
	requests         *prometheus.CounterVec
	checks           *prometheus.CounterVec
	dropped          *prometheus.CounterVec
	providerRequests *prometheus.CounterVec
	providerLatency  *prometheus.HistogramVec
	statusChanges    *prometheus.CounterVec
	kvConflicts      prometheus.Counter
	publishRetries   prometheus.Counter
	republished      prometheus.Counter
	inflight         prometheus.Gauge
	watchesActive    prometheus.Gauge
	watchLag         prometheus.Histogram
	watchesEnded     *prometheus.CounterVec
	watchesGivenBack *prometheus.CounterVec
	webhooks         *prometheus.CounterVec
	circuitOpen      *prometheus.GaugeVec
	cacheHits        prometheus.Counter
	cacheMisses      prometheus.Counter
	cacheEvictions   prometheus.Counter
	reg              prometheus.Registerer
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	cacheLookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "paybridge_cache_lookups_total",
		Help: "Reads of the view of the status bucket, by result: hit, or miss (a KV read followed).",
	}, []string{"result"})
	m := &metrics{
		reg:         reg,
		cacheHits:   cacheLookups.WithLabelValues("hit"),
		cacheMisses: cacheLookups.WithLabelValues("miss"),
		cacheEvictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "paybridge_cache_evictions_total",
			Help: "Payments the view of the status bucket forgot, least recently used first, to stay within --cache-size.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paybridge_requests_total",
			Help: "Requests on payments.check and payments.status.get, each counted once, by endpoint (check or lookup), provider (empty when not configured or not read) and outcome: what the reply said (changed, unchanged, stale, unknown, store, or an error code, invalid_request and overloaded included), dropped (a fire-and-forget check past its provider's queue) or refused_reply_subject (a reply subject the bridge owns; unanswered).",
		}, []string{"endpoint", "provider", "outcome"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paybridge_checks_total",
			Help: "Check requests answered, by provider and outcome (changed, unchanged, stale, unknown, store, or an error code).",
		}, []string{"provider", "outcome"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paybridge_checks_dropped_total",
			Help: "Fire-and-forget checks dropped because their provider's share of in-flight checks and its queue were full.",
		}, []string{"provider"}),
		providerRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paybridge_provider_requests_total",
			Help: "Provider status calls (after retries), by provider and result code (ok or an error code).",
		}, []string{"provider", "code"}),
		providerLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "paybridge_provider_request_duration_seconds",
			Help:    "Time of one provider status call including its retries.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"provider"}),
		statusChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paybridge_status_changes_total",
			Help: "Status changes claimed in the store, by previous and new status (from is \"none\" on first sight).",
		}, []string{"from", "to"}),
		kvConflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "paybridge_kv_conflicts_total",
			Help: "Compare-and-set writes lost to a concurrent writer and retried.",
		}),
		publishRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "paybridge_publish_retries_total",
			Help: "Event publishes retried after a failed attempt.",
		}),
		republished: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "paybridge_reconciler_republished_total",
			Help: "Events the reconciler published for records left unpublished.",
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "paybridge_inflight_checks",
			Help: "Requests being processed now.",
		}),
		watchesActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "paybridge_watches_active",
			Help: "Watches and webhook triggers stored in the watch stream.",
		}),
		watchLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "paybridge_watch_lag_seconds",
			Help:    "How late a watched payment's re-check came against its due time, the end of the schedule step it waited for (counted from the check before it).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, .75, 1, 2.5, 5, 15, 60, 300},
		}),
		watchesEnded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paybridge_watches_ended_total",
			Help: "Watches and triggers ended, by outcome: settled (terminal status), expired (deadline passed), payment_not_found or provider_auth_failed (the provider's permanent answer), unknown_account (the watch's account was removed), invalid (an order refused unread), overloaded (a webhook's payment checked but not watched).",
		}, []string{"outcome"}),
		watchesGivenBack: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paybridge_watches_given_back_total",
			Help: "Due watches and triggers fetched and given back to the watch stream, by provider: no room to hold them within half their ack wait (each counts a delivery; another instance, or this one a second later, takes it).",
		}, []string{"provider"}),
		circuitOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "paybridge_provider_circuit_open",
			Help: "1 while a provider's circuit is open: it failed too many calls in a row and is not asked until a probe succeeds.",
		}, []string{"provider"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paybridge_webhooks_total",
			Help: "Provider webhooks received, by provider and outcome (stored, unauthorized, bad_request, unavailable).",
		}, []string{"provider", "outcome"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.checks, m.dropped, m.providerRequests, m.providerLatency,
		m.statusChanges, m.kvConflicts, m.publishRetries, m.republished, m.inflight,
		m.watchesActive, m.watchLag, m.watchesEnded, m.watchesGivenBack, m.webhooks, m.circuitOpen, cacheLookups, m.cacheEvictions} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	return m, nil
}

// watchView reports the view's size as paybridge_cache_entries.
func (m *metrics) watchView(v *view) error {
	return m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "paybridge_cache_entries",
		Help: "Payments the view of the status bucket holds (at most --cache-size).",
	}, func() float64 { return float64(v.len()) }))
}

// watchUnread reports the requests the NATS client dropped unread as
// paybridge_requests_unread_total.
func (m *metrics) watchUnread(u *unreadRequests) error {
	return m.reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "paybridge_requests_unread_total",
		Help: "Requests the NATS client dropped before the bridge read them: an intake subscription's buffer of messages not yet decoded (2 MiB) was full.",
	}, u.count))
}

// watchQueue reports how many fire-and-forget checks of provider wait in
// its queue as paybridge_queued_checks.
func (m *metrics) watchQueue(provider string, queued func() int) error {
	return m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "paybridge_queued_checks",
		Help:        "Fire-and-forget checks waiting for a slot of their provider's share of in-flight checks.",
		ConstLabels: prometheus.Labels{"provider": provider},
	}, func() float64 { return float64(queued()) }))
}

// watchAccounts reports how many merchant accounts each provider has as
// paybridge_accounts: a gauge per provider, never a series per account.
func (m *metrics) watchAccounts(ms *merchants) error {
	for _, provider := range ms.providers {
		err := m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "paybridge_accounts",
			Help:        "Merchant accounts configured for a provider besides its default one (--accounts-dir).",
			ConstLabels: prometheus.Labels{"provider": provider},
		}, func() float64 { return float64(ms.count(provider)) }))
		if err != nil {
			return err
		}
	}
	return nil
}

// countRequest counts one request on the intake by its outcome.
func (m *metrics) countRequest(e endpoint, provider, outcome string) {
	m.requests.WithLabelValues(e.String(), provider, outcome).Inc()
}

func (m *metrics) countCheck(provider string, rep paybridge.Reply, err error) {
	if paybridge.ErrorCode(err) == paybridge.CodeUnknownProvider {
		provider = "" // do not let callers mint label values
	}
	m.checks.WithLabelValues(provider, outcome(rep, err)).Inc()
}

// outcome is what a check came to: changed, unchanged, stale, unknown,
// store, or an error code. Metrics and spans say it alike.
func outcome(rep paybridge.Reply, err error) string {
	switch {
	case err != nil:
		return string(paybridge.ErrorCode(err))
	case rep.Source == paybridge.SourceStore:
		return "store"
	case rep.Changed:
		return "changed"
	case rep.Stale:
		return "stale"
	case rep.Status == paybridge.StatusUnknown:
		return "unknown"
	}
	return "unchanged"
}

func (m *metrics) countProviderCall(provider string, err error, took time.Duration) {
	code := "ok"
	if err != nil {
		code = string(paybridge.ErrorCode(err))
	}
	m.providerRequests.WithLabelValues(provider, code).Inc()
	m.providerLatency.WithLabelValues(provider).Observe(took.Seconds())
}

func (m *metrics) countChange(from *paybridge.Status, to paybridge.Status) {
	f := "none"
	if from != nil {
		f = string(*from)
	}
	m.statusChanges.WithLabelValues(f, string(to)).Inc()
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
