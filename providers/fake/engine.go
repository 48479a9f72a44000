// Package fake is a scripted payment provider for tests and the paysim
// simulator. The Engine holds payments, walks each through a script of raw
// provider statuses, injects faults and records every request; a Dialect
// plugs in what differs per provider (paths, credentials, body shapes).
package fake

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"time"
)

// MaxRecorded is how many of the latest requests an Engine remembers, so a
// long-running simulator does not grow without bound.
const MaxRecorded = 1000

// Dialect is what one provider's fake adds to the Engine.
type Dialect struct {
	// PaymentID returns the payment id a request path names, given the path
	// as sent (still escaped), or false when the path is not one of the
	// provider's status URLs.
	PaymentID func(escapedPath string) (id string, ok bool)
	// Authorized reports whether a request carries the right credentials.
	Authorized func(r *http.Request) bool
	// Render returns the 200 body for a payment's current state.
	Render func(s State) ([]byte, error)
	// ErrorBody returns the provider's error body for an HTTP status.
	ErrorBody func(status int) []byte
}

// Recorded is one request as the fake received it.
type Recorded struct {
	Method string
	// RequestURI is the request target exactly as sent, still escaped.
	RequestURI string
	// ID is the decoded payment id, empty when the path named none.
	ID     string
	Header http.Header
}

// Engine is a fake provider's HTTP handler. It is safe for concurrent use.
type Engine struct {
	dialect Dialect
	cfg     config

	mu       sync.Mutex
	payments map[string]*script
	faults   map[string][]Fault
	calls    map[string]int
	requests []Recorded
	rng      *rand.Rand
}

// New returns an Engine speaking the given provider dialect.
func New(d Dialect, opts ...Option) (*Engine, error) {
	if d.PaymentID == nil || d.Authorized == nil || d.Render == nil || d.ErrorBody == nil {
		return nil, errors.New("fake: dialect needs PaymentID, Authorized, Render and ErrorBody")
	}
	cfg := defaultConfig()
	for _, opt := range opts {
		if err := opt(&cfg); err != nil {
			return nil, fmt.Errorf("fake: %w", err)
		}
	}
	return &Engine{
		dialect:  d,
		cfg:      cfg,
		payments: map[string]*script{},
		faults:   map[string][]Fault{},
		calls:    map[string]int{},
		rng:      rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x9e3779b97f4a7c15)),
	}, nil
}

// NewServer starts an httptest server for the Engine; the caller closes it.
func (e *Engine) NewServer() *httptest.Server { return httptest.NewServer(e) }

// Add adds a payment, replacing any with the same id. Its first step
// begins now.
func (e *Engine) Add(p Payment) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("fake: payment %q: %w", p.ID, err)
	}
	p.Steps = slices.Clone(p.Steps)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.payments[p.ID] = newScript(p, time.Now())
	return nil
}

// Set replaces the rest of a payment's script: its first step is in force
// from now on.
func (e *Engine) Set(id string, steps ...Step) error {
	if err := validateSteps(steps); err != nil {
		return fmt.Errorf("fake: payment %q: %w", id, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.payments[id]
	if !ok {
		return fmt.Errorf("fake: no payment %q", id)
	}
	s.replace(slices.Clone(steps), time.Now())
	return nil
}

// Fault queues a fault for the next requests naming id (AnyID: any
// payment). Faults for one id are used in the order queued; an id's own
// faults come before AnyID's.
func (e *Engine) Fault(id string, f Fault) error {
	if err := f.validate(); err != nil {
		return fmt.Errorf("fake: %w", err)
	}
	f.Body = slices.Clone(f.Body)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults[id] = append(e.faults[id], f)
	return nil
}

// Calls is how many authorized requests named the payment id, whatever
// was answered (faults and 404s included).
func (e *Engine) Calls(id string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[id]
}

// Requests returns the latest requests received, oldest first, including
// unauthorized ones and paths that named no payment.
func (e *Engine) Requests() []Recorded {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Recorded, len(e.requests))
	for i, r := range e.requests {
		r.Header = r.Header.Clone()
		out[i] = r
	}
	return out
}

// ServeHTTP answers one status request.
func (e *Engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := e.dialect.PaymentID(r.URL.EscapedPath())
	e.record(r, id)
	switch {
	case !ok:
		e.writeError(w, http.StatusNotFound)
		return
	case r.Method != http.MethodGet:
		w.Header().Set("Allow", http.MethodGet)
		e.writeError(w, http.StatusMethodNotAllowed)
		return
	case !e.dialect.Authorized(r):
		e.writeError(w, http.StatusUnauthorized)
		return
	}
	f := e.plan(id)
	if !sleep(r.Context(), f.Delay) {
		return
	}
	if f.answers() {
		e.writeFault(w, f)
		return
	}
	state, found := e.serve(id)
	if !found {
		e.writeError(w, http.StatusNotFound)
		return
	}
	body, err := e.dialect.Render(state)
	if err != nil {
		e.writeError(w, http.StatusInternalServerError)
		return
	}
	write(w, http.StatusOK, "application/json", body)
}

func (e *Engine) record(r *http.Request, id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.requests) >= MaxRecorded {
		e.requests = slices.Delete(e.requests, 0, len(e.requests)-MaxRecorded+1)
	}
	e.requests = append(e.requests, Recorded{
		Method: r.Method, RequestURI: r.RequestURI, ID: id, Header: r.Header.Clone(),
	})
}

// plan counts the call and decides how it is answered: the next queued
// fault, else a random fault or latency as configured.
func (e *Engine) plan(id string) Fault {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls[id]++
	for _, key := range []string{id, AnyID} {
		queue := e.faults[key]
		if len(queue) == 0 {
			continue
		}
		f := queue[0]
		if queue[0].Times--; queue[0].Times == 0 {
			queue = queue[1:]
		}
		if len(queue) == 0 {
			delete(e.faults, key)
		} else {
			e.faults[key] = queue
		}
		return f
	}
	return e.randomFault()
}

func (e *Engine) randomFault() Fault {
	var f Fault
	if span := e.cfg.latencyMax - e.cfg.latencyMin; e.cfg.latencyMax > 0 {
		f.Delay = e.cfg.latencyMin + time.Duration(e.rng.Int64N(int64(span)+1))
	}
	switch p := e.rng.Float64(); {
	case p < e.cfg.serverErrorRate:
		f.Status = []int{500, 502, 503, 504}[e.rng.IntN(4)]
	case p < e.cfg.serverErrorRate+e.cfg.rateLimitRate:
		f.Status, f.RetryAfter = http.StatusTooManyRequests, "1"
	}
	return f
}

func (e *Engine) serve(id string) (State, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.payments[id]
	if !ok {
		return State{}, false
	}
	return s.serve(time.Now()), true
}

func (e *Engine) writeFault(w http.ResponseWriter, f Fault) {
	status := f.Status
	if status == 0 {
		status = http.StatusOK
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.Body == nil {
		e.writeError(w, status)
		return
	}
	write(w, status, contentType(f.Body), f.Body)
}

func (e *Engine) writeError(w http.ResponseWriter, status int) {
	write(w, status, "application/json", e.dialect.ErrorBody(status))
}

func write(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// sleep waits d unless the request is abandoned first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
