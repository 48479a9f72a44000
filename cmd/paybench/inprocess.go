package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/pprof"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/providers/all"
)

// inProcess is a bridge running in paybench's own process: its memory is
// the whole process's (NATS server, paysim and load included), and its
// profile shows all of them.
type inProcess struct {
	nc  *nats.Conn
	b   *bridge.Bridge
	reg *prometheus.Registry // the bridge's metrics
}

func startInProcess(ctx context.Context, o options, w *world) (*inProcess, error) {
	provs, err := selfPaysim(w.simURL).providers(all.List)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(w.natsURL, nats.Name("paybench bridge"))
	if err != nil {
		return nil, fmt.Errorf("bridge connection: %w", err)
	}
	reg := prometheus.NewRegistry()
	cfg := bridge.Config{MaxInflight: o.maxInflight, Registerer: reg}
	if o.watches > 0 {
		cfg.WatchSchedule, cfg.MaxWatches = o.watchSchedule, max(o.watches, bridge.DefaultConfig().MaxWatches)
	}
	b, err := bridge.New(ctx, nc, cfg, provs...)
	if err == nil {
		err = b.Start()
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("starting the bridge: %w", err)
	}
	return &inProcess{nc: nc, b: b, reg: reg}, nil
}

func (p *inProcess) metricsURL() string { return "" }

// metricsText writes the bridge's metrics in the text format, as its
// /metrics would.
func (p *inProcess) metricsText(w io.Writer) error {
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(p.reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	_, err := io.Copy(w, rec.Body)
	return err
}

func (p *inProcess) describe() string {
	return "in process (RSS and profile are of the whole paybench process: NATS server, paysim and load included)"
}

func (p *inProcess) pid() int { return os.Getpid() }

func (p *inProcess) profile(ctx context.Context, d time.Duration, w io.Writer) error {
	return profileSelf(ctx, d, w)
}

// profileSelf writes a CPU profile of this process over the next d.
func profileSelf(ctx context.Context, d time.Duration, w io.Writer) error {
	if err := pprof.StartCPUProfile(w); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *inProcess) stop(ctx context.Context) error {
	err := p.b.Close(ctx)
	p.nc.Close()
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("bridge: %w", err)
	}
	return err
}
