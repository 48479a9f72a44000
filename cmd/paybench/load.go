package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// sample is one measured check.
type sample struct {
	latency time.Duration
	added   time.Duration // reply time minus paysim's handling time; valid when matched
	matched bool
	outcome
}

// recorder collects the samples of checks that began in the measured
// window.
type recorder struct {
	mu      sync.Mutex
	samples []sample
}

func (r *recorder) add(s sample) {
	r.mu.Lock()
	r.samples = append(r.samples, s)
	r.mu.Unlock()
}

// window is one run's timeline: warm-up from start, measured from from
// until end.
type window struct {
	start, from, end time.Time
}

func newWindow(warmup, duration time.Duration) window {
	start := time.Now()
	return window{start: start, from: start.Add(warmup), end: start.Add(warmup + duration)}
}

// driver runs checks against the pool, closed or open loop.
type driver struct {
	pool    *pool
	meter   *providerMeter // nil: no added latency
	timeout time.Duration
	// completed counts every check done, warm-up included, so that
	// provider calls per check compare counts taken at the same moments.
	completed atomic.Int64
}

// measure runs one check and records it when it began in the window.
// Latency counts from the send. An open loop's sender never waits for
// replies (below maxOpenLoopInflight), so a slow reply cannot delay later
// sends and hide itself; its due time only places it in the window.
func (d *driver) measure(ctx context.Context, w window, due time.Time, do op, rec *recorder) error {
	p, err := d.pool.take()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	sent := time.Now()
	if due.IsZero() {
		due = sent
	}
	out := do(ctx, p)
	done := time.Now()
	d.completed.Add(1)
	if due.Before(w.from) {
		return nil
	}
	s := sample{latency: done.Sub(sent), outcome: out}
	if d.meter != nil {
		if took, ok := d.meter.handledAfter(p.path, sent); ok {
			s.added, s.matched = done.Sub(sent)-took, true
		}
	}
	rec.add(s)
	return nil
}

// closedLoop keeps n checks in flight until the window ends.
func (d *driver) closedLoop(ctx context.Context, w window, n int, do op) ([]sample, error) {
	return d.workers(ctx, w, n, do, func() bool { return ctx.Err() == nil && time.Now().Before(w.end) })
}

// workers runs n goroutines that each measure one check after another
// while more says so, and returns the samples and the first error.
func (d *driver) workers(ctx context.Context, w window, n int, do op, more func() bool) ([]sample, error) {
	rec := &recorder{}
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for more() {
				if err := d.measure(ctx, w, time.Time{}, do, rec); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return rec.samples, <-errs
}

// maxOpenLoopInflight bounds the checks an open loop keeps in flight when
// the system falls behind; beyond it the sender waits (and the waiting
// shows in the latencies, which count from each check's due time).
const maxOpenLoopInflight = 20000

// openLoop sends checks at rate per second until the window ends.
func (d *driver) openLoop(ctx context.Context, w window, rate float64, do op) ([]sample, error) {
	rec := &recorder{}
	interval := time.Duration(float64(time.Second) / rate)
	slots := make(chan struct{}, maxOpenLoopInflight)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for i := 0; ctx.Err() == nil; i++ {
		due := w.start.Add(time.Duration(i) * interval)
		if !due.Before(w.end) {
			break
		}
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := d.measure(ctx, w, due, do, rec); err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return rec.samples, <-errs
}

// fixedCount runs exactly total checks, n at a time, recording them all.
func (d *driver) fixedCount(ctx context.Context, total, n int, do op) ([]sample, error) {
	var left atomic.Int64
	left.Store(int64(total))
	return d.workers(ctx, window{}, min(n, total), do, func() bool { return left.Add(-1) >= 0 })
}
