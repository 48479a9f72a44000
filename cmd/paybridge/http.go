package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"
)

// httpLimits bound what clients can hold of one listener: the time to
// send a request and to take its answer, the time a kept-alive connection
// may sit idle, the header size, and how many connections are served at
// once (more wait in the kernel's accept queue).
type httpLimits struct {
	readHeaderTimeout time.Duration
	readTimeout       time.Duration // the whole request, body included
	writeTimeout      time.Duration // from the end of the headers to the end of the answer
	idleTimeout       time.Duration
	maxHeaderBytes    int
	maxConns          int
}

// The limits of serve's two listeners. They are variables so that tests
// can shorten them instead of waiting for them.
var (
	// webhookLimits are --http-listen's, which may face the internet: a
	// webhook body (at most 1 MiB) must arrive within 15 s, and the answer
	// (storing the trigger takes up to 10 s) must be taken within 30 s of
	// the headers.
	webhookLimits = httpLimits{
		readHeaderTimeout: 10 * time.Second,
		readTimeout:       15 * time.Second,
		writeTimeout:      30 * time.Second,
		idleTimeout:       60 * time.Second,
		maxHeaderBytes:    32 << 10,
		maxConns:          512,
	}
	// adminLimits are --admin-listen's, for scrapers and operators on a
	// private address: the webhooks' but for two. The write timeout lets a
	// CPU profile or trace of up to 4 minutes finish (pprof refuses one
	// that would outlast it), and fewer connections are enough.
	adminLimits = func() httpLimits {
		l := webhookLimits
		l.writeTimeout = 5 * time.Minute
		l.maxConns = 64
		return l
	}()
)

// startHTTP opens both listeners: the webhooks' (--http-listen) and the
// admin one (--admin-listen), so that metrics and profiles stay off an
// address that faces the internet.
func (s *server) startHTTP(cfg serveConfig, reg *prometheus.Registry) error {
	var err error
	if s.httpAddr, err = s.serveHTTP("--http-listen", cfg.httpListen, webhookLimits, s.webhookRoutes()); err != nil {
		return err
	}
	if s.adminAddr, err = s.serveHTTP("--admin-listen", cfg.adminListen, adminLimits, s.adminRoutes(reg, cfg.pprof)); err != nil {
		return err
	}
	s.log.Info("HTTP listening", "addr", s.httpAddr.String(), "admin", s.adminAddr.String())
	return nil
}

// serveHTTP listens on addr and serves h there within limits until close;
// a listener that fails makes serve exit.
func (s *server) serveHTTP(flagName, addr string, limits httpLimits, h http.Handler) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: limits.readHeaderTimeout,
		ReadTimeout:       limits.readTimeout,
		WriteTimeout:      limits.writeTimeout,
		IdleTimeout:       limits.idleTimeout,
		MaxHeaderBytes:    limits.maxHeaderBytes,
	}
	s.httpServers = append(s.httpServers, srv)
	go func() {
		if err := srv.Serve(netutil.LimitListener(ln, limits.maxConns)); !errors.Is(err, http.ErrServerClosed) {
			s.fail(fmt.Errorf("HTTP server on %s: %w", flagName, err))
		}
	}()
	return ln.Addr(), nil
}

// webhookRoutes is --http-listen: liveness, readiness and the providers'
// webhooks.
func (s *server) webhookRoutes() http.Handler {
	mux := http.NewServeMux()
	s.handleProbes(mux)
	// HTTP starts before the bridge exists, so that /healthz and /readyz
	// answer while NATS is awaited.
	mux.Handle("/webhooks/", closeOnRefusal(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := s.webhooks.Load()
		if h == nil {
			// Nothing can check a callback's credential yet: the
			// provider retries.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"not ready: starting"}` + "\n"))
			return
		}
		(*h).ServeHTTP(w, r)
	})))
	return mux
}

// adminRoutes is --admin-listen: liveness, readiness, metrics and, with
// --pprof, the profiler.
func (s *server) adminRoutes(reg *prometheus.Registry, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	s.handleProbes(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	if withPprof {
		// No /debug/pprof/cmdline: the command line may carry API keys.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// handleProbes adds /healthz and /readyz, which both listeners answer.
func (s *server) handleProbes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if s.natsGone.Load() {
			writeText(w, http.StatusServiceUnavailable, "not ok: NATS connection closed")
			return
		}
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if reason := s.readiness(); reason != "" {
			writeText(w, http.StatusServiceUnavailable, "not ready: "+reason)
			return
		}
		writeText(w, http.StatusOK, "ready")
	})
}

// closeOnRefusal ends the connection after an error answer instead of
// reading the rest of a body nobody will use: net/http would read up to
// 256 KiB of it first, so a client dripping a body after a 401 would hold
// the connection until the read timeout.
func closeOnRefusal(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &refusalWriter{ResponseWriter: w}
		h.ServeHTTP(rw, r)
		if rw.refused {
			// Reads of the unread body now fail at once, so the server
			// sends the answer and closes.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now())
		}
	})
}

// refusalWriter marks an error answer Connection: close.
type refusalWriter struct {
	http.ResponseWriter
	refused bool
}

func (w *refusalWriter) WriteHeader(code int) {
	if code >= http.StatusBadRequest {
		w.refused = true
		w.Header().Set("Connection", "close")
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *refusalWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func writeText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(text + "\n"))
}
