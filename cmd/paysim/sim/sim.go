// Package sim is the paysim provider simulator as a library: both
// providers' fake status APIs on one handler, loaded with scripted
// payments, so the paysim command and paybridge's demo run the same thing.
package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/fake"
	"github.com/paybridge/paybridge/providers/muvinai"
)

// Config says what the simulator serves and how badly it behaves.
type Config struct {
	CoinbarClientID  string // required: the CBPAY-API-KEY accepted
	CoinbarSecretKey string // optional: when set, SIGNATURE is checked
	MuvinaiAPIKey    string // required: the bearer token accepted
	Scenario         Scenario
	// LatencyMin and LatencyMax delay every answer by a random time
	// between them; zero for none.
	LatencyMin, LatencyMax time.Duration
	// FaultRate is the share of answers replaced by a failure: three in
	// four of them a 5xx, one in four a 429 with Retry-After: 1.
	FaultRate float64
	// Seed makes latencies and faults repeatable.
	Seed uint64
	// Logger logs one line per request (never its headers); nil for none.
	Logger *slog.Logger
}

// Sim serves both providers' APIs on one handler: their paths do not clash.
type Sim struct {
	coinbar  *coinbar.Fake
	muvinai  *muvinai.Fake
	scenario Scenario
	handler  http.Handler
}

// New builds the simulator and loads the scenario's payments; each
// payment's script starts now.
func New(cfg Config) (*Sim, error) {
	if cfg.FaultRate < 0 || cfg.FaultRate > 1 {
		return nil, fmt.Errorf("paysim: fault rate must be between 0 and 1, got %v", cfg.FaultRate)
	}
	// Each fake gets its own seed, so their faults do not fall in step.
	opts := func(seed uint64) []fake.Option {
		return []fake.Option{
			fake.WithSeed(seed),
			fake.WithFaultRates(cfg.FaultRate*3/4, cfg.FaultRate/4),
			fake.WithLatency(cfg.LatencyMin, cfg.LatencyMax),
		}
	}
	cb, err := coinbar.NewFake(cfg.CoinbarClientID, cfg.CoinbarSecretKey, opts(cfg.Seed)...)
	if err != nil {
		return nil, fmt.Errorf("paysim: %w", err)
	}
	mv, err := muvinai.NewFake(cfg.MuvinaiAPIKey, opts(cfg.Seed+1)...)
	if err != nil {
		return nil, fmt.Errorf("paysim: %w", err)
	}
	for _, p := range cfg.Scenario.Coinbar {
		if err := cb.Add(p); err != nil {
			return nil, fmt.Errorf("paysim: coinbar: %w", err)
		}
	}
	for _, p := range cfg.Scenario.Muvinai {
		if err := mv.Add(p); err != nil {
			return nil, fmt.Errorf("paysim: muvinai: %w", err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle(coinbar.PathPrefix, cb)
	mux.Handle(muvinai.PathPrefix, mv)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	var h http.Handler = mux
	if cfg.Logger != nil {
		h = logRequests(cfg.Logger, mux)
	}
	return &Sim{coinbar: cb, muvinai: mv, scenario: cfg.Scenario, handler: h}, nil
}

// Handler serves both APIs: CoinbarPay under coinbar.PathPrefix, Muvinai
// under muvinai.PathPrefix, and GET /healthz.
func (s *Sim) Handler() http.Handler { return s.handler }

// Coinbar is the CoinbarPay fake, to script payments or faults at run time.
func (s *Sim) Coinbar() *coinbar.Fake { return s.coinbar }

// Muvinai is the Muvinai fake, to script payments or faults at run time.
func (s *Sim) Muvinai() *muvinai.Fake { return s.muvinai }

// Scenario is the payments the simulator was started with.
func (s *Sim) Scenario() Scenario { return s.scenario }

// shutdownGrace is how long in-flight requests get to finish on shutdown.
const shutdownGrace = 5 * time.Second

// Serve answers on ln until ctx is done, then lets in-flight requests
// finish (up to 5s) and returns nil.
func (s *Sim) Serve(ctx context.Context, ln net.Listener) error {
	return ServeHandler(ctx, ln, s.handler)
}

// ServeHandler serves h, the simulator's handler or one wrapping it (a
// meter, say), as Serve does.
func ServeHandler(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("paysim: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close() // requests still delayed by a fault or latency are cut off
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("paysim: %w", err)
	}
	return nil
}
