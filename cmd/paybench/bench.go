package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// idleSettle is how long a freshly started bridge is left alone before its
// idle memory is read.
const idleSettle = time.Second

// bench is one paybench invocation: the load's NATS connection, the
// payments, and with --self the world it started.
type bench struct {
	o       options
	log     io.Writer
	world   *world // nil against an external bridge
	nc      *nats.Conn
	js      jetstream.JetStream
	pool    *pool
	drv     *driver
	rss     *rssSampler // nil against an external bridge
	idleRSS int64
}

func newBench(ctx context.Context, o options, log io.Writer) (*bench, error) {
	b := &bench{o: o, log: log}
	if err := b.setUp(ctx); err != nil {
		return nil, errors.Join(err, b.close())
	}
	return b, nil
}

func (b *bench) setUp(ctx context.Context) error {
	natsURL := b.o.natsURL
	var sim simulator
	if b.o.scale > 0 {
		if err := checkFreeSpace(os.TempDir(), b.o.scale); err != nil {
			return err
		}
	}
	if b.o.self {
		w, err := startWorld(ctx, b.o, b.log)
		if err != nil {
			return err
		}
		b.world, natsURL, sim = w, w.natsURL, w.sim
	}
	var err error
	if b.nc, err = nats.Connect(natsURL, nats.Name("paybench")); err != nil {
		return fmt.Errorf("connecting to NATS: %w", err)
	}
	if b.js, err = jetstream.New(b.nc); err != nil {
		return err
	}
	if b.pool, err = newPool(b.o, sim); err != nil {
		return err
	}
	b.drv = &driver{pool: b.pool, timeout: b.o.timeout}
	if b.o.latencyAdded {
		b.world.meter.timing.Store(true)
		b.drv.meter = b.world.meter
	}
	if b.world != nil && b.o.scale == 0 { // --scale follows the bridge it restarts
		time.Sleep(idleSettle)
		idle, err := readRSS(b.world.bridge.pid())
		if err != nil {
			return fmt.Errorf("reading the bridge's memory: %w", err)
		}
		b.followBridge(idle)
	}
	return nil
}

// followBridge notes the running bridge's idle memory and samples its RSS
// from now on, for the peak of each run.
func (b *bench) followBridge(idleRSS int64) {
	b.idleRSS = idleRSS
	b.rss = startRSSSampler(b.world.bridge.pid(), 100*time.Millisecond)
}

func (b *bench) close() error {
	if b.rss != nil {
		b.rss.close()
	}
	if b.nc != nil {
		b.nc.Close()
	}
	if b.world != nil {
		return b.world.close()
	}
	return nil
}

// run runs the phases: prime, the timed runs (floor and/or bridge), the
// burst.
func (b *bench) run(ctx context.Context) (*result, error) {
	res := &result{Setup: b.o.describe(), Bridge: "external, at " + b.o.natsURL, LoadBefore: loadAverage()}
	if b.o.scale > 0 {
		scale, err := b.scale(ctx)
		if err != nil {
			return nil, err
		}
		res.Scale = scale
	}
	if b.world != nil {
		res.Bridge = b.world.bridge.describe()
		res.RSS = &rssReport{Of: res.Bridge, IdleMiB: mib(b.idleRSS)}
	}
	if b.o.watches > 0 {
		w, err := b.watchesRun(ctx)
		if err != nil {
			return nil, err
		}
		res.Watches = w
		res.LoadAfter = loadAverage()
		return res, nil
	}
	if b.o.prime {
		fmt.Fprintf(b.log, "paybench: priming %d payments\n", b.o.payments)
		prime, err := b.prime(ctx)
		if err != nil {
			return nil, err
		}
		res.Prime = prime
	}
	if b.o.duration > 0 {
		if err := b.timedRuns(ctx, res); err != nil {
			return nil, err
		}
	}
	if b.o.burst > 0 {
		burst, err := b.burst(ctx)
		if err != nil {
			return nil, err
		}
		res.Burst = burst
	}
	if b.o.flood > 0 {
		flood, err := b.flood(ctx)
		if err != nil {
			return nil, err
		}
		res.Flood = flood
	}
	res.LoadAfter = loadAverage()
	return res, nil
}

func (b *bench) timedRuns(ctx context.Context, res *result) error {
	var floor *runResult
	if b.o.floor || b.o.compare {
		op, err := b.floorOp(ctx)
		if err != nil {
			return err
		}
		r, err := b.timed(ctx, floorRunName(b.o.floorKind), op)
		if err != nil {
			return err
		}
		res.Runs = append(res.Runs, *r)
		res.FloorKind, floor = b.o.floorKind, r
	}
	if b.o.floor {
		return nil
	}
	r, err := b.timed(ctx, "bridge", bridgeCheck(b.nc, b.o.checkSubject))
	if err != nil {
		return err
	}
	res.Runs = append(res.Runs, *r)
	if floor != nil && floor.ChecksPerSecond > 0 {
		ratio := r.ChecksPerSecond / floor.ChecksPerSecond
		res.BridgeFloor = &ratio
	}
	if floor != nil && floor.CPUPerCheck != nil && r.CPUPerCheck != nil {
		ratio := floor.CPUPerCheck.total() / r.CPUPerCheck.total()
		res.BridgeFloorCPU = &ratio
	}
	if b.rss != nil {
		res.RSS.PeakMiB = r.RSSPeakMiB
		end := mib(b.rss.takePeak())
		res.RSS.EndMiB = &end
	}
	res.Profile, res.WorldProfile = b.o.cpuProfile, b.o.worldProf
	return nil
}

// prime checks every payment once through the bridge: each is a first
// sight, so this also measures the changed path (claim, publish, mark).
func (b *bench) prime(ctx context.Context) (*runResult, error) {
	b.pool.restart()
	before := b.counters(ctx)
	start := time.Now()
	samples, err := b.drv.fixedCount(ctx, b.o.payments, b.o.concurrent, bridgeCheck(b.nc, b.o.checkSubject))
	if err != nil {
		return nil, err
	}
	r := &runResult{Name: "prime"}
	r.summarise(samples, time.Since(start).Seconds())
	r.counted(before, b.counters(ctx))
	return r, nil
}

// timed runs one warm-up and measured window of op; for the bridge it also
// takes the memory peak and, when asked, a CPU profile of the window.
func (b *bench) timed(ctx context.Context, name string, do op) (*runResult, error) {
	fmt.Fprintf(b.log, "paybench: %s run, %s warm-up + %s\n", name, b.o.warmup, b.o.duration)
	b.pool.restart()
	w := newWindow(b.o.warmup, b.o.duration)
	var before counters
	var side sync.WaitGroup
	var profileErr error
	side.Go(func() {
		time.Sleep(time.Until(w.from))
		if b.rss != nil {
			b.rss.takePeak() // the peak of the measured window only
		}
		before = b.counters(ctx)
	})
	var worldProfileErr error
	if name == "bridge" && b.o.cpuProfile != "" {
		side.Go(func() {
			time.Sleep(time.Until(w.from))
			profileErr = b.profile(ctx, b.o.cpuProfile, b.world.bridge.profile)
		})
	}
	if name == "bridge" && b.o.worldProf != "" {
		side.Go(func() {
			time.Sleep(time.Until(w.from))
			worldProfileErr = b.profile(ctx, b.o.worldProf, profileSelf)
		})
	}
	var samples []sample
	var err error
	if b.o.rate > 0 {
		samples, err = b.drv.openLoop(ctx, w, b.o.rate, do)
	} else {
		samples, err = b.drv.closedLoop(ctx, w, b.o.concurrent, do)
	}
	side.Wait()
	if err != nil {
		return nil, err
	}
	if err := errors.Join(profileErr, worldProfileErr); err != nil {
		return nil, err
	}
	r := &runResult{Name: name}
	r.summarise(samples, b.o.duration.Seconds())
	r.counted(before, b.counters(ctx))
	if name != "bridge" && b.world == nil {
		// The bridge's /metrics does not see the floor's own calls.
		r.ProviderCalls, r.CallsPerCheck = nil, nil
	}
	if strings.Contains(name, "floor") {
		// The bridge sat idle: its allocations are not the floor's.
		r.AllocsPerCheck, r.AllocBytesPerCheck = nil, nil
	}
	if name == "bridge" && b.rss != nil {
		peak := mib(b.rss.takePeak())
		r.RSSPeakMiB = &peak
	}
	return r, nil
}

// profile writes a CPU profile of the measured window, taken by take, to
// path.
func (b *bench) profile(ctx context.Context, path string, take func(context.Context, time.Duration, io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	err = take(ctx, b.o.duration, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// counters reads the cumulative counts: provider calls (paysim's meter,
// or the bridge's /metrics), events (the event stream's last sequence)
// and statuses moved by the pool.
func (b *bench) counters(ctx context.Context) counters {
	c := counters{checks: b.drv.completed.Load(), calls: -1, events: -1, moved: b.pool.changes.Load(), mallocs: -1, allocBytes: -1}
	c.cpu, c.cpuOK = b.readCPUSplit()
	samples, read := b.bridgeProcessMetrics(ctx)
	if _, has := samples[mallocsMetric]; has {
		c.mallocs, c.allocBytes = samples[mallocsMetric], samples[allocBytesMetric]
	}
	switch {
	case b.world != nil:
		c.calls = b.world.meter.calls.Load()
	case read: // --metrics-url's page, read once for both
		c.calls = int64(sumSeries(samples, providerCallsMetric))
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if s, err := b.js.Stream(ctx, b.o.eventStream); err == nil {
		if info, err := s.Info(ctx); err == nil {
			c.events = int64(info.State.LastSeq)
		}
	}
	return c
}
