package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
)

// --watches measures what watching many payments costs, as a platform
// with many open invoices runs paybridge: a batch job publishes a check
// with "watch": true of every open payment to the durable intake
// (payments.check.queued, so that none is dropped), and the bridge
// watches each until it settles. Here none settles: paysim answers
// pending for every one, and every watch re-checks on the schedule for
// good. paybench measures:
//
//   - direct checks first (--watch-direct), at the rate the re-checks
//     will ask for, over payments of their own: the cost a re-check is
//     compared with, in the same world;
//   - the intake: how long until every queued check was taken and
//     settled, how many watches were stored, and what became of the rest;
//   - a window of --duration, --warmup after the intake: the re-checks
//     made (provider calls) against those the schedule asks for, how late
//     each came against the step it waited for (the gap since the end of
//     the payment's previous call, from paysim's side, and the bridge's
//     own paybridge_watch_lag_seconds), the watched payments not called
//     within the last step (and 10 s) before the window's end, the CPU per
//     re-check of the bridge and of nats-server (its process with --nats
//     subprocess), and the RSS of both.

// watchesResult is what --watches measured.
type watchesResult struct {
	Watches  int    `json:"watches"`
	Schedule string `json:"schedule"`
	// AskedPerSecond is the re-check rate the schedule asks for once every
	// watch is on its last step: watches ÷ last step.
	AskedPerSecond float64      `json:"asked_rechecks_per_second"`
	Direct         *runResult   `json:"direct,omitempty"`
	Intake         intakeResult `json:"intake"`
	Window         watchWindow  `json:"window"`
}

// intakeResult is how the watched checks came in.
type intakeResult struct {
	Published      int     `json:"published"`      // acknowledged by the intake stream
	PublishFailed  int     `json:"publish_failed"` // refused, or never acknowledged
	PublishSeconds float64 `json:"publish_seconds"`
	// Seconds is from the first publish until the intake consumer had
	// nothing left to deliver or awaiting its ack.
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
	// Stored is the messages the watch stream held once the intake was
	// done; Dropped, the payments asked to be watched less those. It
	// counts messages, not watches (triggers are messages too; one intake
	// of 1,000,000 ended with 1,000,167), so it can over-count: the
	// window's Silent is the count of lost watches that cannot.
	Stored  int `json:"stored"`
	Dropped int `json:"dropped"`
	// Outcomes are the queued checks by outcome
	// (paybridge_requests_total{endpoint="queued"}).
	Outcomes   map[string]int64 `json:"outcomes"`
	BridgeCPUS float64          `json:"bridge_cpu_s"`
	NATSCPUS   *float64         `json:"nats_server_cpu_s,omitempty"`
}

// watchWindow is the measured window of re-checks.
type watchWindow struct {
	Seconds float64 `json:"seconds"`
	// Rechecks are the provider calls for payments called before the
	// window: FirstCalls, for payments never called before, are not
	// re-checks and are left out of the count and the CPU per re-check.
	Rechecks   int64   `json:"rechecks"`
	FirstCalls int     `json:"first_calls"`
	PerSecond  float64 `json:"rechecks_per_second"`
	// Lag is how much longer than its step each re-check's interval from
	// the payment's previous call was, from paysim's side (ms; see
	// gapTracker). Early counts those shorter than their step by more
	// than earlyBy.
	Lag   latencyStats `json:"lag_ms"`
	Early int          `json:"early"`
	// Silent are the payments asked to be watched that paysim had not
	// heard of for the last step and silentSlack more when the window
	// ended: each a watch lost, or one that late.
	Silent int `json:"silent"`
	// MetricLag is paybridge_watch_lag_seconds over the window.
	MetricLag *histogramSummary `json:"metric_lag,omitempty"`
	// Outcomes are the bridge's checks over the window by outcome
	// (paybridge_checks_total).
	Outcomes map[string]int64 `json:"outcomes,omitempty"`
	// CPU per re-check, µs: the bridge's process, nats-server's (with
	// --nats subprocess) and paybench's (paysim, load; NATS too in
	// process).
	CPU *cpuPerCheck `json:"cpu_us_per_recheck,omitempty"`
	// Memory over the window, MiB.
	BridgeRSSPeakMiB float64  `json:"bridge_rss_peak_mib"`
	BridgeRSSEndMiB  float64  `json:"bridge_rss_end_mib"`
	NATSRSSPeakMiB   *float64 `json:"nats_server_rss_peak_mib,omitempty"`
	NATSRSSEndMiB    *float64 `json:"nats_server_rss_end_mib,omitempty"`
	// Stored is the messages the watch stream held at the window's end
	// (see intakeResult.Stored).
	Stored        int    `json:"stored_at_end"`
	Profile       string `json:"cpu_profile,omitempty"`
	NATSProfile   string `json:"nats_cpu_profile,omitempty"`
	WorldProfile  string `json:"world_cpu_profile,omitempty"`
	ProfileErrors string `json:"profile_errors,omitempty"`
}

// histogramSummary is a histogram's count and quantiles over a window, in
// seconds, interpolated within buckets as Prometheus's histogram_quantile
// does.
type histogramSummary struct {
	Count float64 `json:"count"`
	P50   float64 `json:"p50_s"`
	P99   float64 `json:"p99_s"`
}

// Bounds of --watches.
const (
	// directPayments bounds the payments of the direct checks.
	directPayments = 10_000
	// intakeAckWait bounds the wait for one intake publish's ack.
	intakeAckWait = time.Minute
	// intakePoll is how often the intake's progress is read.
	intakePoll = 250 * time.Millisecond
	// silentSlack is how much later than its last step a watched payment
	// may be called and not count as silent: the tail of the lag is
	// seconds at a million watches.
	silentSlack = 10 * time.Second
	// earlyBy is how much shorter than its step a re-check's interval
	// may be and not count as early: a call comes after its schedule's
	// firing by its lag (under a second, the target), and a repeating
	// schedule fires on whole seconds (the first firing up to half a
	// second early). Shorter is a check brought forward.
	earlyBy = time.Second
)

// watchesRun is the whole --watches measurement.
func (b *bench) watchesRun(ctx context.Context) (*watchesResult, error) {
	o := b.o
	last := o.watchSchedule[len(o.watchSchedule)-1]
	res := &watchesResult{Watches: o.watches, Schedule: bridge.FormatSchedule(o.watchSchedule),
		AskedPerSecond: float64(o.watches) / last.Seconds()}
	if o.watchDirect > 0 {
		direct, err := b.directChecks(ctx, res.AskedPerSecond)
		if err != nil {
			return nil, err
		}
		res.Direct = direct
	}
	gaps := newGapTracker(o.watchSchedule, o.watches)
	b.world.meter.gaps.Store(gaps)
	defer b.world.meter.gaps.Store(nil)
	intake, err := b.intake(ctx)
	if err != nil {
		return nil, err
	}
	res.Intake = *intake
	fmt.Fprintf(b.log, "paybench: intake done in %.1f s: watch stream %d messages, %d fewer than asked; measuring %s after %s\n",
		intake.Seconds, intake.Stored, intake.Dropped, o.duration, o.warmup)
	if !sleepCtx(ctx, o.warmup) {
		return nil, ctx.Err()
	}
	window, err := b.watchWindow(ctx, gaps)
	if err != nil {
		return nil, err
	}
	res.Window = *window
	return res, nil
}

// directChecks measures checks through the bridge at rate, over payments
// of their own, each checked once unmeasured first (its first sight).
func (b *bench) directChecks(ctx context.Context, rate float64) (*runResult, error) {
	po := b.o
	po.payments, po.prefix = min(b.o.watches, directPayments), "direct-"
	p, err := newPool(po, b.world.sim)
	if err != nil {
		return nil, err
	}
	drv := &driver{pool: p, timeout: b.o.timeout}
	do := bridgeCheck(b.nc, b.o.checkSubject)
	fmt.Fprintf(b.log, "paybench: direct checks: %d payments primed, then %.0f checks/s for %s\n", po.payments, rate, b.o.watchDirect)
	if _, err := drv.fixedCount(ctx, po.payments, b.o.concurrent, do); err != nil {
		return nil, err
	}
	p.restart()
	w := newWindow(time.Second, b.o.watchDirect)
	var before counters
	var side sync.WaitGroup
	side.Go(func() {
		time.Sleep(time.Until(w.from))
		before = b.snapshot(drv)
	})
	samples, err := drv.openLoop(ctx, w, rate, do)
	side.Wait()
	if err != nil {
		return nil, err
	}
	r := &runResult{Name: "direct"}
	r.summarise(samples, b.o.watchDirect.Seconds())
	r.counted(before, b.snapshot(drv))
	return r, nil
}

// snapshot reads the counters a run is measured by, for drv's checks.
func (b *bench) snapshot(drv *driver) counters {
	c := counters{checks: drv.completed.Load(), calls: b.world.meter.calls.Load(), events: -1}
	c.cpu, c.cpuOK = b.readCPUSplit()
	return c
}

// intake publishes a watched check of every payment of the pool to the
// durable intake, at most --watch-outstanding awaiting their ack, and
// waits until the bridge has taken and settled every one.
func (b *bench) intake(ctx context.Context) (*intakeResult, error) {
	var failed atomic.Int64
	var firstErr atomic.Value
	js, err := jetstream.New(b.nc,
		jetstream.WithPublishAsyncMaxPending(b.o.watchOutstanding),
		jetstream.WithPublishAsyncTimeout(intakeAckWait),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
		}))
	if err != nil {
		return nil, err
	}
	metricsBefore, err := b.bridgeMetrics(ctx)
	if err != nil {
		return nil, err
	}
	cpuBefore, cpuOK := b.readCPUSplit()
	n := b.o.watches
	fmt.Fprintf(b.log, "paybench: intake of %d watched checks on %s\n", n, paybridge.DefaultQueuedCheckSubject)
	b.pool.restart()
	start := time.Now()
	type watched struct {
		Provider  string `json:"provider"`
		PaymentID string `json:"payment_id"`
		Watch     bool   `json:"watch"`
	}
	for i := range n {
		p, err := b.pool.take()
		if err != nil {
			return nil, err
		}
		body, err := json.Marshal(watched{Provider: p.provider, PaymentID: p.id, Watch: true})
		if err != nil {
			return nil, err
		}
		if _, err := js.PublishAsync(paybridge.DefaultQueuedCheckSubject, body, jetstream.WithStallWait(intakeAckWait)); err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
		}
		if i%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(2 * intakeAckWait):
		return nil, fmt.Errorf("intake: %d publishes still unacknowledged after %s", js.PublishAsyncPending(), 2*intakeAckWait)
	}
	res := &intakeResult{PublishSeconds: time.Since(start).Seconds(), PublishFailed: int(failed.Load())}
	res.Published = n - res.PublishFailed
	if res.PublishFailed > 0 {
		fmt.Fprintf(b.log, "paybench: %d intake publishes failed, the first: %v\n", res.PublishFailed, firstErr.Load())
	}
	cons, err := js.Consumer(ctx, paybridge.DefaultCheckStream, "paybridge-checks")
	if err != nil {
		return nil, fmt.Errorf("the durable intake's consumer: %w", err)
	}
	nextReport := time.Now().Add(5 * time.Second)
	var failingSince time.Time
	for {
		info, err := cons.Info(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil && failingSince.IsZero():
			failingSince = time.Now()
			fallthrough
		case err != nil:
			// A busy server may answer an API request late: the intake
			// goes on meanwhile.
			if time.Since(failingSince) > intakeAckWait {
				return nil, fmt.Errorf("the durable intake's consumer: %w", err)
			}
			fmt.Fprintf(b.log, "paybench: reading the intake's progress: %v\n", err)
			continue
		}
		failingSince = time.Time{}
		if info.NumPending == 0 && info.NumAckPending == 0 {
			break
		}
		if now := time.Now(); now.After(nextReport) {
			stored, _ := b.watchesStored(ctx)
			fmt.Fprintf(b.log, "paybench: intake after %.0f s: %d queued, %d being checked, watch stream %d messages\n",
				now.Sub(start).Seconds(), info.NumPending, info.NumAckPending, stored)
			nextReport = now.Add(5 * time.Second)
		}
		if !sleepCtx(ctx, intakePoll) {
			return nil, ctx.Err()
		}
	}
	res.Seconds = time.Since(start).Seconds()
	res.PerSecond = float64(n) / res.Seconds
	if res.Stored, err = b.watchesStored(ctx); err != nil {
		return nil, err
	}
	res.Dropped = max(0, n-res.Stored)
	metricsAfter, err := b.bridgeMetrics(ctx)
	if err != nil {
		return nil, err
	}
	res.Outcomes = deltas(byLabel(metricsBefore, "paybridge_requests_total", "outcome", `endpoint="queued"`),
		byLabel(metricsAfter, "paybridge_requests_total", "outcome", `endpoint="queued"`))
	if cpuAfter, ok := b.readCPUSplit(); ok && cpuOK {
		res.BridgeCPUS = (cpuAfter.bridge - cpuBefore.bridge).Seconds()
		if cpuAfter.hasNATS {
			s := (cpuAfter.nats - cpuBefore.nats).Seconds()
			res.NATSCPUS = &s
		}
	}
	return res, nil
}

// watchesStored counts the messages the watch stream holds (see
// intakeResult.Stored), asking again for a minute while a busy server
// answers late.
func (b *bench) watchesStored(ctx context.Context) (int, error) {
	var n int
	err := retrying(ctx, func() error {
		s, err := b.js.Stream(ctx, bridge.DefaultConfig().WatchStream)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		n = int(info.State.Msgs)
		return nil
	})
	return n, err
}

// retrying calls f until it succeeds, for at most a minute.
func retrying(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := f()
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		if !sleepCtx(ctx, time.Second) {
			return ctx.Err()
		}
	}
}

// watchWindow measures the re-checks over --duration.
func (b *bench) watchWindow(ctx context.Context, gaps *gapTracker) (*watchWindow, error) {
	o := b.o
	var natsRSS *rssSampler
	if pid := b.world.natsPid(); pid != 0 {
		natsRSS = startRSSSampler(pid, time.Second)
		defer natsRSS.close()
	}
	metricsBefore, err := b.bridgeMetrics(ctx)
	if err != nil {
		return nil, err
	}
	if b.rss != nil {
		b.rss.takePeak()
	}
	before := counters{calls: b.world.meter.calls.Load()}
	before.cpu, before.cpuOK = b.readCPUSplit()
	start := time.Now()
	gaps.start()

	var side sync.WaitGroup
	var profErrs [3]error
	if o.cpuProfile != "" {
		side.Go(func() { profErrs[0] = b.profile(ctx, o.cpuProfile, b.world.bridge.profile) })
	}
	if o.natsProfile != "" {
		side.Go(func() { profErrs[1] = b.profile(ctx, o.natsProfile, b.world.natsProc.cpuProfile) })
	}
	if o.worldProf != "" {
		side.Go(func() { profErrs[2] = b.profile(ctx, o.worldProf, profileSelf) })
	}
	fmt.Fprintf(b.log, "paybench: measuring re-checks for %s\n", o.duration)
	for end := start.Add(o.duration); time.Now().Before(end); {
		if !sleepCtx(ctx, min(10*time.Second, time.Until(end))) {
			return nil, ctx.Err()
		}
		calls := b.world.meter.calls.Load() - before.calls
		fmt.Fprintf(b.log, "paybench: %.0f s: %d re-checks (%.0f/s)\n", time.Since(start).Seconds(), calls,
			float64(calls)/time.Since(start).Seconds())
	}
	last := o.watchSchedule[len(o.watchSchedule)-1]
	seen := gaps.stop(time.Now(), last+silentSlack)
	after := counters{calls: b.world.meter.calls.Load()}
	after.cpu, after.cpuOK = b.readCPUSplit()
	seconds := time.Since(start).Seconds()
	side.Wait()
	metricsAfter, err := b.bridgeMetrics(ctx)
	if err != nil {
		return nil, err
	}

	w := &watchWindow{Seconds: seconds, Rechecks: after.calls - before.calls - int64(seen.firsts), FirstCalls: seen.firsts,
		Profile: o.cpuProfile, NATSProfile: o.natsProfile, WorldProfile: o.worldProf}
	w.Silent = max(0, o.watches-seen.heard)
	if err := errors.Join(profErrs[:]...); err != nil {
		w.ProfileErrors = err.Error()
	}
	w.PerSecond = float64(w.Rechecks) / seconds
	for _, l := range seen.lags {
		if l < -earlyBy {
			w.Early++
		}
	}
	w.Lag = percentiles(seen.lags)
	w.MetricLag = histogramDelta(metricsBefore, metricsAfter, "paybridge_watch_lag_seconds")
	w.Outcomes = deltas(byLabel(metricsBefore, "paybridge_checks_total", "outcome"), byLabel(metricsAfter, "paybridge_checks_total", "outcome"))
	if before.cpuOK && after.cpuOK && w.Rechecks > 0 {
		per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(w.Rechecks) }
		w.CPU = &cpuPerCheck{Bridge: per(after.cpu.bridge - before.cpu.bridge), World: per(after.cpu.world - before.cpu.world)}
		if after.cpu.hasNATS {
			n := per(after.cpu.nats - before.cpu.nats)
			w.CPU.NATS = &n
		}
	}
	if b.rss != nil {
		w.BridgeRSSPeakMiB = mib(b.rss.takePeak())
		if rss, err := readRSS(b.world.bridge.pid()); err == nil {
			w.BridgeRSSEndMiB = mib(rss)
		}
	}
	if natsRSS != nil {
		peak := mib(natsRSS.takePeak())
		w.NATSRSSPeakMiB = &peak
		if rss, err := readRSS(b.world.natsPid()); err == nil {
			end := mib(rss)
			w.NATSRSSEndMiB = &end
		}
	}
	if w.Stored, err = b.watchesStored(ctx); err != nil {
		return nil, err
	}
	return w, nil
}

// deltas is after − before for every key, without the zeros.
func deltas(before, after map[string]float64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range after {
		if d := int64(math.Round(v - before[k])); d != 0 {
			out[k] = d
		}
	}
	return out
}

// histogramDelta summarises the samples a histogram gained between two
// scrapes; nil when it gained none.
func histogramDelta(before, after map[string]float64, name string) *histogramSummary {
	type bucket struct {
		le    float64
		count float64
	}
	var buckets []bucket
	for series, v := range after {
		rest, ok := strings.CutPrefix(series, name+`_bucket{le="`)
		if !ok {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(rest, `"}`), 64)
		if err != nil {
			continue
		}
		buckets = append(buckets, bucket{le: le, count: v - before[series]})
	}
	slices.SortFunc(buckets, func(a, b bucket) int {
		switch {
		case a.le < b.le:
			return -1
		case a.le > b.le:
			return 1
		}
		return 0
	})
	if len(buckets) == 0 || buckets[len(buckets)-1].count <= 0 {
		return nil
	}
	total := buckets[len(buckets)-1].count
	quantile := func(q float64) float64 {
		rank := q * total
		lower, below := 0.0, 0.0
		for _, b := range buckets {
			if b.count >= rank {
				if math.IsInf(b.le, 1) {
					return lower // past the highest finite bucket
				}
				if b.count == below {
					return b.le
				}
				return lower + (b.le-lower)*(rank-below)/(b.count-below)
			}
			lower, below = b.le, b.count
		}
		return lower
	}
	return &histogramSummary{Count: total, P50: quantile(0.5), P99: quantile(0.99)}
}

// sleepCtx waits d, and reports false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
