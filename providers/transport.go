package providers

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Transport is the provider clients' pool of HTTP/1.1 connections. It
// writes a request and reads its answer on the caller's goroutine, with
// net/http's own writer and reader (Request.Write, ReadResponse), where
// http.Transport runs two goroutines per connection and hands every
// request and answer across them: at thousands of small calls a second
// those hand-offs were the largest part of a check's cost (README,
// "Performance"). It keeps what the provider clients had from
// http.Transport: keep-alive with an idle connection for every call in
// flight, idle connections closed after 90 s, TLS (HTTP/1.1 by ALPN), the
// request's context and its attempt's bound (withAttemptTimeout) bounding
// dial, write and read, an idle connection the
// server closed (or wrote to unasked) never used, a request that got no
// answer on an idle connection sent again once on a new one, and the
// proxies the environment names (those requests go through an
// http.Transport). It is safe for concurrent use.
type Transport struct {
	dialer      net.Dialer
	tlsConfig   *tls.Config
	proxied     *http.Transport // requests the environment sends through a proxy
	maxIdle     int             // per host
	idleTimeout time.Duration

	mu       sync.Mutex
	idle     map[poolKey][]*persistConn // oldest first
	viaProxy map[poolKey]bool           // whether the environment names a proxy for a host
	sweep    *time.Timer                // due while idle connections wait; nil when none do
}

// poolKey is a host:port as the request URL spells it, and its scheme.
type poolKey struct {
	https bool
	host  string
}

// IdleConnsPerHost is how many idle connections a pool keeps per host: one
// for every call the bridge may have in flight (--max-inflight), so that
// a burst's connections are not closed after it and dialled again.
const IdleConnsPerHost = 4096

// maxResponseHeaderBytes bounds an answer's status line and headers, as
// http.Transport's MaxResponseHeaderBytes does: a provider sending headers
// without end fails the attempt instead of filling memory.
const maxResponseHeaderBytes = MaxBodyBytes

// NewTransport returns an empty pool. tlsConfig may be nil (the system's
// roots); it is cloned, with HTTP/1.1 as the only protocol offered.
func NewTransport(tlsConfig *tls.Config) *Transport {
	cfg := &tls.Config{}
	if tlsConfig != nil {
		cfg = tlsConfig.Clone()
	}
	cfg.NextProtos = []string{"http/1.1"}
	proxied := http.DefaultTransport.(*http.Transport).Clone()
	proxied.TLSClientConfig = cfg.Clone()
	proxied.ForceAttemptHTTP2 = false
	proxied.DisableCompression = true // the body limit is on the body as sent
	proxied.MaxResponseHeaderBytes = maxResponseHeaderBytes
	proxied.MaxIdleConns, proxied.MaxIdleConnsPerHost = IdleConnsPerHost, IdleConnsPerHost
	return &Transport{
		dialer:      net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second},
		tlsConfig:   cfg,
		proxied:     proxied,
		maxIdle:     IdleConnsPerHost,
		idleTimeout: 90 * time.Second,
		idle:        map[poolKey][]*persistConn{},
		viaProxy:    map[poolKey]bool{},
	}
}

// persistConn is one connection with its buffers. Reads go through it so
// that an answer's head can be bounded.
type persistConn struct {
	conn      net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	key       poolKey
	readLimit int64       // bytes left to read before reads fail
	probe     func() bool // the socket's look for idleUsable (idleProbe)
	idleSince time.Time
}

// idleUsable reports whether pc, idle since its last answer, may carry a
// request: the server has not closed it, and nothing waits in it that no
// request asked for. Over TLS such bytes may sit in tls.Conn's own
// buffers, out of the socket's sight: a read with a deadline in the past
// takes them if they are there, and else times out at once, with no
// system call and no harm to the connection. Then the socket: probe.
func (pc *persistConn) idleUsable() bool {
	if _, ok := pc.conn.(*tls.Conn); ok {
		pc.conn.SetReadDeadline(time.Unix(1, 0))
		var netErr net.Error
		if _, err := pc.br.Peek(1); !errors.As(err, &netErr) || !netErr.Timeout() {
			return false
		}
	}
	return pc.probe()
}

func (pc *persistConn) Read(p []byte) (int, error) {
	if pc.readLimit <= 0 {
		return 0, fmt.Errorf("provider's response headers exceed %d bytes", maxResponseHeaderBytes)
	}
	if int64(len(p)) > pc.readLimit {
		p = p[:pc.readLimit]
	}
	n, err := pc.conn.Read(p)
	pc.readLimit -= int64(n)
	return n, err
}

var errViaProxy = errors.New("providers: the environment names a proxy for this host")

// attemptKey is the context key of an attempt's bound (withAttemptTimeout).
type attemptKey struct{}

// withAttemptTimeout bounds each attempt of the requests made with ctx to
// d: dial, write, answer and body. The pool makes the bound its
// connection's deadline, so a call pays for one context value rather than
// a timer context per attempt.
func withAttemptTimeout(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, attemptKey{}, d)
}

// attemptDeadline is when an attempt made now with ctx must end: at its
// bound or the context's deadline, whichever comes first (zero: never).
func attemptDeadline(ctx context.Context) time.Time {
	deadline, ok := ctx.Deadline()
	if d, bounded := ctx.Value(attemptKey{}).(time.Duration); bounded {
		if end := time.Now().Add(d); !ok || end.Before(deadline) {
			return end
		}
	}
	return deadline
}

// roundTripProxied sends req through http.Transport, which bounds an
// attempt only by the request's context: the deadline becomes one, ended
// with the body.
func (t *Transport) roundTripProxied(req *http.Request, deadline time.Time) (*http.Response, error) {
	if deadline.IsZero() {
		return t.proxied.RoundTrip(req)
	}
	ctx, cancel := context.WithDeadline(req.Context(), deadline)
	resp, err := t.proxied.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose ends a proxied attempt's deadline with its body.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// RoundTrip sends req on an idle connection to its host, or a new one, and
// returns the answer with its head read. The connection goes back to the
// pool when the body has been read to its end, and is closed when the
// body is closed before.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil || req.URL.Host == "" {
		return nil, closeBody(req, errors.New("providers: request has no host"))
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, closeBody(req, fmt.Errorf("providers: unsupported scheme %q", req.URL.Scheme))
	}
	key := poolKey{https: req.URL.Scheme == "https", host: req.URL.Host}
	ctx := req.Context()
	deadline := attemptDeadline(ctx)
	pc, reused, err := t.conn(ctx, deadline, key, req, false)
	if errors.Is(err, errViaProxy) {
		return t.roundTripProxied(req, deadline)
	}
	if err != nil {
		return nil, closeBody(req, ctxErr(ctx, err))
	}
	resp, answered, err := t.send(ctx, deadline, pc, req, reused)
	if err == nil {
		return resp, nil
	}
	// The deadline is the context's or sooner: passed covers both.
	if !reused || answered || ctx.Err() != nil || passed(deadline) || !idempotent(req) {
		return nil, ctxErr(ctx, err)
	}
	// The server may close an idle connection (or time it out with a 408)
	// just as the request goes out on it: a request that got no answer on
	// one is sent again, once, on a new connection, as http.Transport
	// does, when sending it twice does no harm.
	if pc, _, err = t.conn(ctx, deadline, key, req, true); err != nil {
		return nil, closeBody(req, ctxErr(ctx, err))
	}
	if resp, _, err = t.send(ctx, deadline, pc, req, false); err != nil {
		return nil, ctxErr(ctx, err)
	}
	return resp, nil
}

// send writes req on pc and reads the answer's head; answered tells
// whether an answer came (a 408 on a reused connection is the server's
// idle timeout, not an answer). The deadline bounds both, and the body, as
// the connection's; the context's end sets one in the past. On an error
// pc is closed.
func (t *Transport) send(ctx context.Context, deadline time.Time, pc *persistConn, req *http.Request, reused bool) (resp *http.Response, answered bool, err error) {
	if err := pc.conn.SetDeadline(deadline); err != nil {
		pc.conn.Close()
		return nil, false, err
	}
	stop := context.AfterFunc(ctx, func() { pc.conn.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if err != nil {
			stop()
			pc.conn.Close()
		}
	}()
	if err := req.Write(pc.bw); err != nil {
		return nil, false, err
	}
	if err := pc.bw.Flush(); err != nil {
		return nil, false, err
	}
	pc.readLimit = maxResponseHeaderBytes
	if _, err := pc.br.Peek(1); err != nil {
		return nil, false, err
	}
	for {
		resp, err = http.ReadResponse(pc.br, req)
		if err != nil {
			return nil, true, err
		}
		// Informational answers (1xx but 101) come before the real one.
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	if reused && resp.StatusCode == http.StatusRequestTimeout && idempotent(req) {
		return nil, false, errors.New("the server timed the idle connection out (HTTP 408)")
	}
	pc.readLimit = math.MaxInt64
	reuse := !resp.Close && !req.Close && resp.StatusCode != http.StatusSwitchingProtocols
	if resp.Body == http.NoBody { // HEAD, 204, 304, Content-Length: 0
		t.release(pc, stop, reuse)
		return resp, true, nil
	}
	resp.Body = &pooledBody{body: resp.Body, ctx: ctx, pc: pc, t: t, stop: stop, reuse: reuse}
	return resp, true, nil
}

// pooledBody gives its connection back to the pool once read to its end.
// Close may come while a Read waits (to abandon it): done decides once.
type pooledBody struct {
	body  io.ReadCloser
	ctx   context.Context
	pc    *persistConn
	t     *Transport
	stop  func() bool
	reuse bool
	done  atomic.Bool
}

func (b *pooledBody) Read(p []byte) (int, error) {
	if b.done.Load() {
		return 0, io.EOF
	}
	n, err := b.body.Read(p)
	switch {
	case err == io.EOF:
		b.finish(true)
	case err != nil:
		b.finish(false)
		err = ctxErr(b.ctx, err)
	}
	return n, err
}

func (b *pooledBody) Close() error {
	b.finish(false) // before its end, the rest is never read
	return nil
}

// finish ends the body once.
func (b *pooledBody) finish(atEnd bool) {
	if b.done.CompareAndSwap(false, true) {
		b.t.release(b.pc, b.stop, atEnd && b.reuse)
	}
}

// release ends a request's hold on pc: it goes back to the pool if it may
// carry another (reuse), the context did not end it and no byte of
// another answer waits in its buffer; else it is closed.
func (t *Transport) release(pc *persistConn, stop func() bool, reuse bool) {
	if stop() && reuse && pc.br.Buffered() == 0 {
		t.put(pc)
		return
	}
	pc.conn.Close()
}

// conn returns the newest usable idle connection to key, or dials one by
// the deadline (always when fresh); or errViaProxy when the request is for
// http.Transport.
func (t *Transport) conn(ctx context.Context, deadline time.Time, key poolKey, req *http.Request, fresh bool) (*persistConn, bool, error) {
	t.mu.Lock()
	viaProxy, known := t.viaProxy[key]
	switch {
	case !known:
		t.mu.Unlock()
		t.learnProxy(key, req)
		return t.conn(ctx, deadline, key, req, fresh)
	case viaProxy:
		t.mu.Unlock()
		return nil, false, errViaProxy
	}
	for !fresh {
		list := t.idle[key]
		if len(list) == 0 {
			break
		}
		pc := list[len(list)-1]
		list[len(list)-1] = nil
		t.idle[key] = list[:len(list)-1]
		t.mu.Unlock()
		// Nothing reads an idle connection: whatever the server did to
		// it meanwhile (closed it, or wrote what no request asked for)
		// is seen here, before a request could take it for its answer.
		if time.Since(pc.idleSince) < t.idleTimeout && pc.idleUsable() {
			return pc, true, nil
		}
		pc.conn.Close()
		t.mu.Lock()
	}
	t.mu.Unlock()
	conn, err := t.dial(ctx, deadline, key, req)
	if err != nil {
		return nil, false, err
	}
	pc := &persistConn{conn: conn, bw: bufio.NewWriter(conn), key: key, probe: idleProbe(conn)}
	pc.br = bufio.NewReader(pc)
	return pc, false, nil
}

// dial connects to key's host by the deadline, with TLS for https (the
// certificate checked against the host name, which tls.Dialer takes from
// addr).
func (t *Transport) dial(ctx context.Context, deadline time.Time, key poolKey, req *http.Request) (net.Conn, error) {
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	addr := address(req.URL, key.https)
	if !key.https {
		return t.dialer.DialContext(ctx, "tcp", addr)
	}
	d := tls.Dialer{NetDialer: &t.dialer, Config: t.tlsConfig}
	return d.DialContext(ctx, "tcp", addr)
}

// put keeps pc for the next request to its host, unless the host has as
// many idle already. Idle connections are closed
// after idleTimeout by a sweep, due whenever any wait.
func (t *Transport) put(pc *persistConn) {
	pc.idleSince = time.Now()
	t.mu.Lock()
	list := t.idle[pc.key]
	if len(list) >= t.maxIdle {
		t.mu.Unlock()
		pc.conn.Close()
		return
	}
	t.idle[pc.key] = append(list, pc)
	if t.sweep == nil {
		t.sweep = time.AfterFunc(t.idleTimeout, t.sweepIdle)
	}
	t.mu.Unlock()
}

// sweepIdle closes the connections idle for idleTimeout or more (the oldest
// come first in each host's list), and makes the next sweep due when the
// oldest left will have waited that long.
func (t *Transport) sweepIdle() {
	var expired []*persistConn
	now := time.Now()
	next := time.Duration(-1)
	t.mu.Lock()
	for key, list := range t.idle {
		n := 0
		for n < len(list) && now.Sub(list[n].idleSince) >= t.idleTimeout {
			n++
		}
		expired = append(expired, list[:n]...)
		list = slices.Delete(list, 0, n)
		if len(list) == 0 {
			delete(t.idle, key)
			continue
		}
		t.idle[key] = list
		if wait := t.idleTimeout - now.Sub(list[0].idleSince); next < 0 || wait < next {
			next = wait
		}
	}
	t.sweep = nil
	if next >= 0 {
		t.sweep = time.AfterFunc(next, t.sweepIdle)
	}
	t.mu.Unlock()
	for _, pc := range expired {
		pc.conn.Close()
	}
}

// CloseIdleConnections closes the connections that wait in the pool (and
// so its sweep, which has none to wait for).
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[poolKey][]*persistConn{}
	if t.sweep != nil {
		t.sweep.Stop()
		t.sweep = nil
	}
	t.mu.Unlock()
	for _, list := range idle {
		for _, pc := range list {
			pc.conn.Close()
		}
	}
	t.proxied.CloseIdleConnections()
}

// learnProxy notes whether the environment names a proxy for key
// (HTTP_PROXY, HTTPS_PROXY, NO_PROXY). net/http reads the environment
// once per process, so the answer holds for the host from then on.
func (t *Transport) learnProxy(key poolKey, req *http.Request) {
	u, err := http.ProxyFromEnvironment(req)
	t.mu.Lock()
	t.viaProxy[key] = err != nil || u != nil
	t.mu.Unlock()
}

// address is the host and port a request for u connects to.
func address(u *url.URL, https bool) string {
	port := u.Port()
	switch {
	case port != "":
	case https:
		port = "443"
	default:
		port = "80"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// closeBody closes req's body, as a RoundTripper must even when it fails
// before sending it, and returns err.
func closeBody(req *http.Request, err error) error {
	if req.Body != nil {
		req.Body.Close()
	}
	return err
}

// idempotent reports whether req may be sent twice: a GET or HEAD without
// a body.
func idempotent(req *http.Request) bool {
	return (req.Method == http.MethodGet || req.Method == http.MethodHead || req.Method == "") &&
		(req.Body == nil || req.Body == http.NoBody)
}

// passed reports whether an attempt's deadline has come: an attempt that
// got no answer by then is over, not one to send again.
func passed(deadline time.Time) bool {
	return !deadline.IsZero() && !time.Now().Before(deadline)
}

// ctxErr prefers the context's error, which says why a request ended, to
// the connection's, as http.Transport does. The connection's deadline may
// be the context's, and pass a moment before the context sees it.
func ctxErr(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if deadline, _ := ctx.Deadline(); passed(deadline) {
		return context.DeadlineExceeded
	}
	return err
}
