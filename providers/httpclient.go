package providers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/paybridge/paybridge"
)

// MaxBodyBytes is the most of a provider response that is read (1 MiB).
const MaxBodyBytes = 1 << 20

// presizedBodyBytes is the largest announced body read into a buffer of
// its length before its bytes come.
const presizedBodyBytes = 32 << 10

// HTTPClient sends a provider's GET requests the way the contract wants:
// retries on connection errors, 429, 500, 502, 503 and 504 (never on other
// 4xx), exponential backoff with jitter, Retry-After honoured up to a cap,
// a timeout per attempt, bodies read up to MaxBodyBytes and redirects
// refused, never followed. Both provider clients share it so the policy
// lives in one place.
type HTTPClient struct {
	provider string
	http     *http.Client
	cfg      httpConfig
	logger   *slog.Logger
	retriers sync.Pool // of *callRetrier, one per call in flight
}

// httpConfig collects what HTTPOptions set before the client is built.
type httpConfig struct {
	retries        int
	waitMin        time.Duration
	waitMax        time.Duration
	maxRetryAfter  time.Duration
	attemptTimeout time.Duration
	logger         *slog.Logger
	tracer         trace.TracerProvider
	transport      *Transport // nil: a pool of its own
}

// HTTPOption configures an HTTPClient.
type HTTPOption func(*httpConfig) error

// WithRetries sets how many times a failed attempt is retried (default 3,
// so 4 attempts in all).
func WithRetries(n int) HTTPOption {
	return func(c *httpConfig) error {
		if n < 0 || n > 20 {
			return fmt.Errorf("retries must be between 0 and 20, got %d", n)
		}
		c.retries = n
		return nil
	}
}

// WithBackoff sets the first retry wait and the cap on any wait (defaults
// 100ms and 2s); each wait doubles, with jitter, until the cap.
func WithBackoff(minWait, maxWait time.Duration) HTTPOption {
	return func(c *httpConfig) error {
		if minWait <= 0 || maxWait < minWait {
			return fmt.Errorf("backoff needs 0 < min <= max, got %s and %s", minWait, maxWait)
		}
		c.waitMin, c.waitMax = minWait, maxWait
		return nil
	}
}

// WithMaxRetryAfter sets the longest Retry-After that is waited for
// (default 30s). A provider asking for longer, or for longer than the call
// has left before its context's deadline, is answered at once with
// provider_rate_limited or provider_unavailable instead of a long wait.
func WithMaxRetryAfter(d time.Duration) HTTPOption {
	return func(c *httpConfig) error {
		if d < 0 {
			return fmt.Errorf("max Retry-After must not be negative, got %s", d)
		}
		c.maxRetryAfter = d
		return nil
	}
}

// WithAttemptTimeout bounds each attempt, headers and body (default 10s).
func WithAttemptTimeout(d time.Duration) HTTPOption {
	return func(c *httpConfig) error {
		if d <= 0 {
			return fmt.Errorf("attempt timeout must be positive, got %s", d)
		}
		c.attemptTimeout = d
		return nil
	}
}

// WithLogger sets where retries and failures are logged (at debug and
// error level). Only method, URL and status are logged: never headers,
// which carry the credentials.
func WithLogger(l *slog.Logger) HTTPOption {
	return func(c *httpConfig) error {
		if l == nil {
			return errors.New("logger must not be nil")
		}
		c.logger = l
		return nil
	}
}

// WithTracerProvider records a span per HTTP attempt (otelhttp) with tp.
// With or without it, every request carries the W3C trace context of its
// ctx (traceparent), so the provider's own traces can join the check's.
func WithTracerProvider(tp trace.TracerProvider) HTTPOption {
	return func(c *httpConfig) error {
		if tp == nil {
			return errors.New("tracer provider must not be nil")
		}
		c.tracer = tp
		return nil
	}
}

// WithTransport makes the client send through t, shared with other
// clients (every merchant account of a provider), instead of a pool of
// connections of its own.
func WithTransport(t *Transport) HTTPOption {
	return func(c *httpConfig) error {
		if t == nil {
			return errors.New("transport must not be nil")
		}
		c.transport = t
		return nil
	}
}

// NewHTTPClient returns a client for the named provider.
func NewHTTPClient(provider string, opts ...HTTPOption) (*HTTPClient, error) {
	cfg := httpConfig{
		retries:        3,
		waitMin:        100 * time.Millisecond,
		waitMax:        2 * time.Second,
		maxRetryAfter:  30 * time.Second,
		attemptTimeout: 10 * time.Second,
		logger:         slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		if err := opt(&cfg); err != nil {
			return nil, fmt.Errorf("%s http client: %w", provider, err)
		}
	}
	transport := cfg.transport
	if transport == nil {
		transport = NewTransport(nil)
	}
	return &HTTPClient{
		provider: provider,
		http: &http.Client{
			Transport: tracedIf(cfg.tracer, refuseRedirects{provider: provider, next: transport}),
		},
		cfg:    cfg,
		logger: cfg.logger.With("provider", provider),
	}, nil
}

// callRetrier is the retrying client of one call: its retry policy keeps
// the call's own count of attempts and the wait it chose, to weigh that
// wait against the time the call has left. Calls take one from a pool
// and put it back, rather than build one each.
type callRetrier struct {
	client retryablehttp.Client
	policy retryPolicy
}

// retrier returns a callRetrier with a fresh policy; put it back with
// c.retriers.Put once the call is over.
func (c *HTTPClient) retrier() *callRetrier {
	if r, ok := c.retriers.Get().(*callRetrier); ok {
		r.policy = retryPolicy{cfg: c.cfg}
		return r
	}
	r := &callRetrier{policy: retryPolicy{cfg: c.cfg}}
	r.client = retryablehttp.Client{
		HTTPClient:   c.http,
		Logger:       c.logger,
		RetryMax:     c.cfg.retries,
		CheckRetry:   r.policy.checkRetry,
		Backoff:      r.policy.backoff,
		ErrorHandler: c.gaveUp,
	}
	return r
}

// Get sends GET url with the given headers and returns the final status
// code and body. Transport failures come back as an *paybridge.Error
// (provider_timeout or provider_unavailable); any status is returned for
// the caller to interpret, with StatusError as the common mapping. A body
// over MaxBodyBytes is provider_bad_response, unless the status already
// says the provider is failing (5xx) or limiting us (429): then the status
// decides, as StatusError maps it, and the body is not returned. A 3xx
// never gets here: it is refused as provider_bad_response (see
// refuseRedirects).
func (c *HTTPClient) Get(ctx context.Context, url string, header http.Header) (int, []byte, error) {
	req, err := retryablehttp.NewRequestWithContext(withAttemptTimeout(ctx, c.cfg.attemptTimeout), http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, paybridge.Errorf(paybridge.CodeInternal, "%s: building request: %v", c.provider, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	// The check's trace context, when it has one: traceparent, tracestate.
	// With a tracer, otelhttp injects its own span's context instead.
	if c.cfg.tracer == nil && trace.SpanContextFromContext(ctx).IsValid() {
		propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
	r := c.retrier()
	resp, err := r.client.Do(req)
	c.retriers.Put(r)
	if resp == nil {
		return 0, nil, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	body, readErr := readBody(resp.Body, resp.ContentLength)
	switch {
	case readErr != nil:
		return 0, nil, c.transportError(ctx, readErr)
	case len(body) > MaxBodyBytes && statusWins(resp.StatusCode):
		return resp.StatusCode, nil, c.StatusError(resp.StatusCode)
	case len(body) > MaxBodyBytes:
		return resp.StatusCode, nil, paybridge.Errorf(paybridge.CodeProviderBadResponse, "%s: response body larger than %d bytes", c.provider, MaxBodyBytes)
	}
	return resp.StatusCode, body, nil
}

// readBody reads a body, up to MaxBodyBytes and one byte more to tell a
// longer one: into one buffer of the length the answer announced when it
// is small (status answers are), else growing as the bytes come, so an
// announced length alone takes no memory.
func readBody(body io.Reader, length int64) ([]byte, error) {
	if length < 0 || length > presizedBodyBytes {
		return io.ReadAll(io.LimitReader(body, MaxBodyBytes+1))
	}
	buf := make([]byte, length)
	if _, err := io.ReadFull(body, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// refuseRedirects is the transport under the http.Client: it turns any 3xx
// into a provider_bad_response error before the client could follow it. A
// status API has no reason to redirect, and following one would send the
// credentials in the request's headers to whatever host the Location
// names. Refusing below the client also covers a Location the client
// cannot parse, and the 3xx body is closed unread, so no caller takes
// another host's words for the provider's.
type refuseRedirects struct {
	provider string
	next     *Transport
}

func (t refuseRedirects) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode < 300 || resp.StatusCode > 399 {
		return resp, err
	}
	resp.Body.Close()
	return nil, redirected(t.provider, resp)
}

// tracedIf wraps rt in otelhttp's transport, which records a span per
// attempt, when there is a tracer provider; without one, recording nothing
// costs nothing (Get puts the trace context in the headers itself).
func tracedIf(tp trace.TracerProvider, rt refuseRedirects) http.RoundTripper {
	if tp == nil {
		return rt
	}
	return tracedTransport{
		Transport: otelhttp.NewTransport(rt, otelhttp.WithTracerProvider(tp),
			otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()), otelhttp.WithPropagators(propagation.TraceContext{})),
		next: rt,
	}
}

// tracedTransport is otelhttp's transport with CloseIdleConnections
// reaching the pool (otelhttp's does not pass it on).
type tracedTransport struct {
	*otelhttp.Transport
	next refuseRedirects
}

func (t tracedTransport) CloseIdleConnections() { t.next.CloseIdleConnections() }

// CloseIdleConnections passes on the http.Client's CloseIdleConnections,
// which retryablehttp calls after a failed call; without it the call would
// not reach the pool.
func (t refuseRedirects) CloseIdleConnections() { t.next.CloseIdleConnections() }

// redirected is the error for a 3xx: it names the status and the host the
// Location points to, quoted and cut short as the untrusted text it is,
// but not its path or query, which may carry a token.
func redirected(provider string, resp *http.Response) error {
	where := "no Location"
	loc, err := resp.Location()
	switch {
	case errors.Is(err, http.ErrNoLocation):
	case err != nil:
		where = "a Location that is not a URL"
	case loc.Host == "":
		where = "a Location without a host"
	default:
		where = fmt.Sprintf("host %q", Truncate(loc.Host, maxQuotedHost))
	}
	return BadResponse(provider, "redirected with HTTP %d to %s; redirects are not followed", resp.StatusCode, where)
}

// maxQuotedHost is how much of a Location's host an error quotes: any real
// host name fits, a hostile one is cut short.
const maxQuotedHost = 80

// StatusError maps a non-2xx status to the contract's error; 2xx gives nil.
func (c *HTTPClient) StatusError(status int) error {
	switch {
	case status >= 200 && status < 300:
		return nil
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return paybridge.Errorf(paybridge.CodeProviderAuthFailed, "%s rejected the credentials (HTTP %d)", c.provider, status)
	case status == http.StatusNotFound:
		return paybridge.Errorf(paybridge.CodePaymentNotFound, "%s knows no such payment (HTTP 404)", c.provider)
	case status == http.StatusTooManyRequests:
		return paybridge.Errorf(paybridge.CodeProviderRateLimited, "%s rate limit reached (HTTP 429)", c.provider)
	case status >= 500:
		return paybridge.Errorf(paybridge.CodeProviderUnavailable, "%s answered HTTP %d", c.provider, status)
	}
	return paybridge.Errorf(paybridge.CodeProviderBadResponse, "%s answered HTTP %d", c.provider, status)
}

// statusWins reports whether a status alone tells the caller what happened,
// whatever the body: the provider is failing or is limiting us.
func statusWins(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// gaveUp is retryablehttp's ErrorHandler: it passes the last response (or
// error) through so its status and body can be mapped, and logs one error
// line when the retries ran out on a retryable status, which retryablehttp
// itself logs only at debug level. Transport failures need no line here:
// retryablehttp logs each at error level. Only method, URL without query,
// status and attempts are logged, never headers: they carry credentials.
func (c *HTTPClient) gaveUp(resp *http.Response, err error, attempts int) (*http.Response, error) {
	if resp != nil && err == nil && resp.Request != nil {
		c.logger.Error("provider request failed after retries",
			"method", resp.Request.Method, "url", withoutQuery(resp.Request.URL),
			"status", resp.StatusCode, "attempts", attempts)
	}
	return resp, err
}

// withoutQuery is u as text without user info, query or fragment, the
// parts that may hold something secret.
func withoutQuery(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
}

// transportError maps a request that got no response to read. An *paybridge.Error
// from below (a refused redirect) keeps its code and message.
func (c *HTTPClient) transportError(ctx context.Context, err error) error {
	var netErr net.Error
	var refused *paybridge.Error
	switch {
	case errors.As(err, &refused):
		return refused
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		return paybridge.Errorf(paybridge.CodeProviderTimeout, "%s did not answer in time", c.provider)
	case errors.As(err, &netErr) && netErr.Timeout():
		return paybridge.Errorf(paybridge.CodeProviderTimeout, "%s did not answer in time", c.provider)
	}
	return paybridge.Errorf(paybridge.CodeProviderUnavailable, "%s unreachable", c.provider)
}

// retryable lists the statuses worth another attempt.
func retryable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryPolicy is the retry policy of one call. retryablehttp asks
// checkRetry whether to retry and then backoff how long to wait first; the
// wait is chosen in checkRetry, so that one the call cannot afford ends the
// retries there.
type retryPolicy struct {
	cfg      httpConfig
	attempts int           // made so far
	wait     time.Duration // before the next attempt
}

// checkRetry retries connection errors and the retryable statuses, unless
// the wait before the retry (Retry-After, or the backoff) is longer than
// the cap on Retry-After or than the time left before the context's
// deadline: then the call ends at once and the last status (or error)
// decides the answer, rather than a sleep that ends in provider_timeout.
func (p *retryPolicy) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if errors.As(err, new(*paybridge.Error)) {
		return false, nil // refused, not failed: it would be refused again
	}
	if err != nil {
		if retry, policyErr := retryablehttp.DefaultRetryPolicy(ctx, resp, err); !retry {
			return false, policyErr
		}
	} else if !retryable(resp.StatusCode) {
		return false, nil
	}
	wait, asked := retryAfter(resp)
	if asked && wait > p.cfg.maxRetryAfter {
		return false, nil // the provider asks for longer than we wait
	}
	if !asked {
		wait = exponentialWait(p.cfg.waitMin, p.cfg.waitMax, p.attempts)
	}
	p.attempts++
	if deadline, ok := ctx.Deadline(); ok && wait >= time.Until(deadline) {
		return false, nil // the call would end while waiting
	}
	p.wait = wait
	// A retry is an event of the provider call's span, each attempt its
	// own HTTP span.
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	trace.SpanFromContext(ctx).AddEvent("retry", trace.WithAttributes(
		attribute.Int("retry.attempt", p.attempts), attribute.Int("http.response.status_code", status),
		attribute.Int64("retry.wait_ms", wait.Milliseconds())))
	return true, nil
}

// backoff is retryablehttp's Backoff: the wait checkRetry chose.
func (p *retryPolicy) backoff(time.Duration, time.Duration, int, *http.Response) time.Duration {
	return p.wait
}

// exponentialWait is min·2^attempt capped at max, with jitter in its upper
// half, so instances that failed together spread out.
func exponentialWait(minWait, maxWait time.Duration, attempt int) time.Duration {
	wait := maxWait
	if attempt < 30 && minWait<<attempt < maxWait {
		wait = minWait << attempt
	}
	half := wait / 2
	return half + rand.N(half+1)
}

// retryAfter reads a Retry-After header in seconds or as an HTTP date.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs >= 0 {
		if secs > 1<<31 {
			secs = 1 << 31
		}
		return time.Duration(secs) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(time.Until(at), 0), true
	}
	return 0, false
}
