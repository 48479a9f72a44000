package providers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers"
)

const testCredential = "Bearer sk_live_credential_9d4e"

// statusServer answers every request with status and body, counting calls.
func statusServer(t *testing.T, status int, body []byte) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func newTestClient(t *testing.T, opts ...providers.HTTPOption) *providers.HTTPClient {
	t.Helper()
	opts = append([]providers.HTTPOption{providers.WithBackoff(time.Millisecond, 2*time.Millisecond)}, opts...)
	c, err := providers.NewHTTPClient("testprov", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func credentialHeader() http.Header {
	return http.Header{"Authorization": {testCredential}}
}

// newLoggingClient is newTestClient logging JSON lines at debug level
// into the returned buffer.
func newLoggingClient(t *testing.T) (*providers.HTTPClient, *bytes.Buffer) {
	t.Helper()
	buf := new(bytes.Buffer)
	logger := slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return newTestClient(t, providers.WithLogger(logger)), buf
}

// errorLines decodes the JSON log lines in buf logged at error level.
func errorLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["level"] == "ERROR" {
			lines = append(lines, m)
		}
	}
	return lines
}

func TestRetriesRunOutOnAStatusLogsOneError(t *testing.T) {
	srv, calls := statusServer(t, http.StatusServiceUnavailable, []byte("down"))
	c, buf := newLoggingClient(t)

	status, _, err := c.Get(context.Background(), srv.URL+"/pay/p1?page=2", credentialHeader())
	if err != nil || status != http.StatusServiceUnavailable {
		t.Fatalf("Get: status %d, error %v; want 503 and no error", status, err)
	}
	if n := calls.Load(); n != 4 {
		t.Fatalf("server saw %d calls, want 4", n)
	}
	errs := errorLines(t, buf)
	if len(errs) != 1 {
		t.Fatalf("%d error lines, want 1:\n%s", len(errs), buf)
	}
	l := errs[0]
	want := map[string]any{
		"provider": "testprov", "method": "GET", "url": srv.URL + "/pay/p1",
		"status": float64(503), "attempts": float64(4),
	}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("error line %s = %v, want %v (line %v)", k, l[k], v, l)
		}
	}
	if strings.Contains(buf.String(), "sk_live_credential") {
		t.Fatalf("credential in the logs:\n%s", buf)
	}
}

func TestSuccessAfterARetryLogsNoError(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.Write([]byte("{}"))
	}))
	t.Cleanup(srv.Close)
	c, buf := newLoggingClient(t)

	status, _, err := c.Get(context.Background(), srv.URL+"/pay/p1", credentialHeader())
	if err != nil || status != http.StatusOK {
		t.Fatalf("Get: status %d, error %v; want 200", status, err)
	}
	if errs := errorLines(t, buf); len(errs) != 0 {
		t.Fatalf("error logged for a call that succeeded: %v", errs)
	}
}

func TestOversizedBodyDoesNotHideTheStatus(t *testing.T) {
	huge := bytes.Repeat([]byte("x"), providers.MaxBodyBytes+1)
	cases := map[int]paybridge.Code{
		http.StatusServiceUnavailable:  paybridge.CodeProviderUnavailable,
		http.StatusInternalServerError: paybridge.CodeProviderUnavailable,
		http.StatusNotImplemented:      paybridge.CodeProviderUnavailable,
		http.StatusTooManyRequests:     paybridge.CodeProviderRateLimited,
		http.StatusOK:                  paybridge.CodeProviderBadResponse,
		http.StatusBadRequest:          paybridge.CodeProviderBadResponse,
	}
	for status, want := range cases {
		srv, _ := statusServer(t, status, huge)
		c := newTestClient(t, providers.WithRetries(0))
		got, body, err := c.Get(context.Background(), srv.URL+"/pay/p1", credentialHeader())
		if code := paybridge.ErrorCode(err); code != want {
			t.Errorf("HTTP %d with %d bytes: error %v, want code %s", status, len(huge), err, want)
		}
		if got != status || body != nil {
			t.Errorf("HTTP %d: returned status %d and %d body bytes, want %d and none", status, got, len(body), status)
		}
	}
}

func TestBodyAtTheLimitIsRead(t *testing.T) {
	full := bytes.Repeat([]byte("x"), providers.MaxBodyBytes)
	srv, _ := statusServer(t, http.StatusServiceUnavailable, full)
	c := newTestClient(t, providers.WithRetries(0))
	status, body, err := c.Get(context.Background(), srv.URL+"/pay/p1", nil)
	if err != nil || status != http.StatusServiceUnavailable || len(body) != providers.MaxBodyBytes {
		t.Fatalf("Get: status %d, %d bytes, error %v; want 503 with the whole body", status, len(body), err)
	}
}

// A Retry-After longer than the cap (30 s by default) is not waited for:
// the call ends at once and the status decides the answer.
func TestLongRetryAfterIsNotWaitedFor(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t)
	start := time.Now()
	status, _, err := c.Get(context.Background(), srv.URL, nil)
	if err != nil || status != http.StatusTooManyRequests {
		t.Fatalf("status %d, err %v", status, err)
	}
	if code := paybridge.ErrorCode(c.StatusError(status)); code != paybridge.CodeProviderRateLimited {
		t.Fatalf("code %s", code)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d attempts, want 1", n)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("waited %s", took)
	}
}

// A Retry-After within the cap is waited for, then the call is retried.
func TestRetryAfterWithinTheCapIsHonoured(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	start := time.Now()
	status, _, err := newTestClient(t, providers.WithMaxRetryAfter(2*time.Second)).Get(context.Background(), srv.URL, nil)
	if err != nil || status != http.StatusOK || calls.Load() != 2 {
		t.Fatalf("status %d, err %v, %d calls", status, err, calls.Load())
	}
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Fatalf("Retry-After: 1 waited only %s", took)
	}
}

// An attempt that outlasts the attempt timeout is cut off and reported as
// provider_timeout, without waiting for the server.
func TestAttemptTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	c := newTestClient(t, providers.WithRetries(0), providers.WithAttemptTimeout(50*time.Millisecond))
	start := time.Now()
	_, _, err := c.Get(context.Background(), srv.URL, nil)
	if code := paybridge.ErrorCode(err); code != paybridge.CodeProviderTimeout {
		t.Fatalf("code %s (%v)", code, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %s", took)
	}
}

// The attempt's deadline covers the body too: a provider that sends its
// headers at once and then stalls mid-body is provider_timeout, long
// before the call's own deadline.
func TestAttemptTimeoutCoversTheBody(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"status":`))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	c := newTestClient(t, providers.WithRetries(0), providers.WithAttemptTimeout(50*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err := c.Get(ctx, srv.URL, nil)
	if code := paybridge.ErrorCode(err); code != paybridge.CodeProviderTimeout || ctx.Err() != nil {
		t.Fatalf("code %s (%v), the call's own context %v", code, err, ctx.Err())
	}
	if calls.Load() != 1 {
		t.Fatalf("%d calls, want 1", calls.Load())
	}
}

// The attempt's bound is each attempt's, not the call's: an attempt that
// outlasts it is given up and the next one gets its own.
func TestAttemptTimeoutIsEachAttempts(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	c := newTestClient(t, providers.WithRetries(1), providers.WithAttemptTimeout(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	status, body, err := c.Get(ctx, srv.URL, nil)
	if err != nil || status != http.StatusOK || string(body) != `{}` {
		t.Fatalf("status %d, body %q, err %v", status, body, err)
	}
	if calls.Load() != 2 {
		t.Fatalf("%d calls, want 2 (the first cut off by its bound)", calls.Load())
	}
}

// The attempt's bound covers the connection's making: a provider that
// takes the connection and never completes the TLS handshake is
// provider_timeout within the bound, not at the call's deadline.
func TestAttemptTimeoutCoversTheHandshake(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() }) // held open, never answered
		}
	}()
	c := newTestClient(t, providers.WithRetries(0), providers.WithAttemptTimeout(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, _, err = c.Get(ctx, "https://"+ln.Addr().String()+"/v1/payments/p1", nil)
	if code := paybridge.ErrorCode(err); code != paybridge.CodeProviderTimeout {
		t.Fatalf("code %s (%v)", code, err)
	}
	if took := time.Since(start); took > 10*time.Second || ctx.Err() != nil {
		t.Fatalf("the handshake was given up after %s, not by the attempt's bound", took)
	}
}

// A redirect's Location is untrusted text: the error quotes only its host,
// cut short, and never its path or query, which may carry a token; nothing
// of the 3xx body is returned.
func TestRedirectErrorQuotesOnlyTheHostCutShort(t *testing.T) {
	longHost := strings.Repeat("a", 5000) + ".example"
	cases := map[string][]string{
		"https://" + longHost + "/pay?token=tok_secret_1": {"HTTP 302", `host "aaaa`, "…"},
		"https://%zz/pay?token=tok_secret_1":              {"HTTP 302", "a Location that is not a URL"},
		"mailto:tok_secret_1@example.com":                 {"HTTP 302", "a Location without a host"},
		"/elsewhere?token=tok_secret_1":                   {"HTTP 302", `host "127.0.0.1:`},
	}
	for location, words := range cases {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.Header().Set("Location", location)
			w.WriteHeader(http.StatusFound)
			w.Write([]byte(`{"status": "paid"}`))
		}))
		t.Cleanup(srv.Close)
		_, body, err := newTestClient(t).Get(context.Background(), srv.URL+"/pay/p1", credentialHeader())
		if body != nil || calls.Load() != 1 {
			t.Errorf("%.40s: %d body bytes, %d calls; want no body and 1 call", location, len(body), calls.Load())
		}
		if code := paybridge.ErrorCode(err); code != paybridge.CodeProviderBadResponse {
			t.Fatalf("%.40s: error %v, want provider_bad_response", location, err)
		}
		msg := paybridge.ErrorMessage(err)
		for _, w := range words {
			if !strings.Contains(msg, w) {
				t.Errorf("%.40s: message %q does not say %q", location, msg, w)
			}
		}
		if len(msg) > 200 || !utf8.ValidString(msg) || strings.Contains(msg, "tok_secret_1") {
			t.Errorf("%.40s: message %q is long, not UTF-8 or shows the Location's path or query", location, msg)
		}
	}
}

// A call abandoned while it waits to retry closes the pool's idle
// connections, as retryablehttp asks: the transport that refuses
// redirects must pass that on to the pool under it.
func TestAbandonedCallClosesIdleConnections(t *testing.T) {
	t.Run("untraced", func(t *testing.T) { testAbandonedCallClosesIdleConnections(t) })
	// otelhttp's transport does not pass CloseIdleConnections on; ours does.
	t.Run("traced", func(t *testing.T) {
		testAbandonedCallClosesIdleConnections(t, providers.WithTracerProvider(tracenoop.NewTracerProvider()))
	})
}

func testAbandonedCallClosesIdleConnections(t *testing.T, opts ...providers.HTTPOption) {
	var calls, closed atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c := newTestClient(t, append(opts, providers.WithBackoff(time.Minute, time.Minute))...)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Get(ctx, srv.URL, nil)
		done <- err
	}()
	testkit.WaitFor(t, 5*time.Second, "the first attempt", func() bool { return calls.Load() == 1 })
	cancel()
	if code := paybridge.ErrorCode(<-done); code != paybridge.CodeProviderTimeout {
		t.Fatalf("abandoned call: code %s, want provider_timeout", code)
	}
	testkit.WaitFor(t, 5*time.Second, "the idle connection to close", func() bool { return closed.Load() == 1 })
}
