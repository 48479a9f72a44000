package providers

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paybridge/paybridge/internal/testkit"
)

// connCounter counts a test server's connections opened and closed.
type connCounter struct{ opened, closed atomic.Int32 }

func (c *connCounter) track(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		c.opened.Add(1)
	case http.StateClosed, http.StateHijacked:
		c.closed.Add(1)
	}
}

// countingServer is an httptest server running h that counts its
// connections; tls starts it with TLS (and HTTP/2 offered).
func countingServer(t *testing.T, h http.HandlerFunc, withTLS bool) (*httptest.Server, *connCounter) {
	t.Helper()
	var c connCounter
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = c.track
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake of the TLS test
	if withTLS {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, &c
}

// get sends GET url through tr and returns the status and the body read
// to its end.
func get(t *testing.T, ctx context.Context, tr http.RoundTripper, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp, string(body)
}

func newTestTransport(t *testing.T) *Transport {
	tr := NewTransport(nil)
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func TestTransportKeepsOneConnectionForCallsInTurn(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "answer to %s", r.URL.Path)
	}, false)
	tr := newTestTransport(t)
	for i := range 20 {
		_, body := get(t, t.Context(), tr, fmt.Sprintf("%s/p%d", srv.URL, i))
		if want := fmt.Sprintf("answer to /p%d", i); body != want {
			t.Fatalf("call %d: body %q, want %q", i, body, want)
		}
	}
	if n := conns.opened.Load(); n != 1 {
		t.Errorf("20 calls in turn opened %d connections, want 1", n)
	}
}

// Many calls at once, each answer checked against its own request: no
// answer is ever read as another request's.
func TestTransportNeverMixesAnswers(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("chunked") != "" {
			w.(http.Flusher).Flush() // no Content-Length: chunked
		}
		io.WriteString(w, r.URL.Path)
	}, false)
	tr := newTestTransport(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 64 {
		wg.Go(func() {
			for i := range 50 {
				path := fmt.Sprintf("/g%d/c%d", g, i)
				target := srv.URL + path
				if i%2 == 0 {
					target += "?chunked=1"
				}
				req, _ := http.NewRequest(http.MethodGet, target, nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					errs <- err
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(body) != path {
					errs <- fmt.Errorf("%s: body %q, err %v", path, body, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := conns.opened.Load(); n > 64 {
		t.Errorf("64 callers opened %d connections, want at most 64", n)
	}
}

func TestTransportReadsChunkedBodiesAndTrailers(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		for range 3 {
			io.WriteString(w, "part;")
			w.(http.Flusher).Flush()
		}
		w.Header().Set("X-Sum", "3")
	}, false)
	tr := newTestTransport(t)
	for range 3 {
		resp, body := get(t, t.Context(), tr, srv.URL)
		if body != "part;part;part;" || resp.Trailer.Get("X-Sum") != "3" {
			t.Fatalf("body %q, trailer %q; want three parts and X-Sum 3", body, resp.Trailer.Get("X-Sum"))
		}
	}
	if n := conns.opened.Load(); n != 1 {
		t.Errorf("chunked answers opened %d connections, want 1 kept alive", n)
	}
}

// A body closed before its end leaves bytes on the connection that
// belong to no request: the connection is closed, never reused.
func TestTransportClosesAConnectionWhoseBodyWasLeftUnread(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, 64<<10))
	}, false)
	tr := newTestTransport(t)
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	testkit.WaitFor(t, 5*time.Second, "the connection to close", func() bool { return conns.closed.Load() == 1 })
	get(t, t.Context(), tr, srv.URL)
	if n := conns.opened.Load(); n != 2 {
		t.Errorf("opened %d connections, want 2 (the first closed)", n)
	}
}

// HEAD, 204 and 304 answers have no body: the connection is reused.
func TestTransportReusesConnectionsAfterAnswersWithoutBody(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		default:
			io.WriteString(w, "a body HEAD does not get")
		}
	}, false)
	tr := newTestTransport(t)
	for _, c := range []struct{ method, path string }{{"HEAD", "/"}, {"GET", "/204"}, {"GET", "/304"}, {"GET", "/"}} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		if c.path == "/" && c.method == "GET" {
			io.ReadAll(resp.Body)
		}
		resp.Body.Close() // unread: nothing to read
	}
	if n := conns.opened.Load(); n != 1 {
		t.Errorf("opened %d connections, want 1", n)
	}
}

// A server may close a connection while it waits idle in the pool: the
// pool sees it before sending a request on it. (A POST, which is never
// sent twice, succeeds only so.)
func TestTransportUsesNoIdleConnectionTheServerClosed(t *testing.T) {
	var calls atomic.Int32
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.WriteString(w, "ok")
	}, false)
	tr := newTestTransport(t)
	get(t, t.Context(), tr, srv.URL)
	srv.CloseClientConnections() // as a provider's idle timeout would
	testkit.WaitFor(t, 5*time.Second, "the server to close the idle connection", func() bool { return conns.closed.Load() == 1 })
	req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("a POST after the server closed the idle connection: %v", err)
	}
	resp.Body.Close()
	if n, c := conns.opened.Load(), calls.Load(); n != 2 || c != 2 {
		t.Errorf("opened %d connections for %d calls, want 2 and 2", n, c)
	}
}

// keepAliveServer answers each request on a connection with
// answer(i, conn), i counting the connection's requests from 0; it
// returns the URL and the count of requests read.
func keepAliveServer(t *testing.T, answer func(i int, c net.Conn)) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveKeepAlive(t, ln, "http://", answer)
}

// keepAliveTLSServer is keepAliveServer over TLS, with the roots that
// trust its certificate.
func keepAliveTLSServer(t *testing.T, answer func(i int, c net.Conn)) (string, *x509.CertPool) {
	t.Helper()
	cert := httptest.NewUnstartedServer(nil) // for its test certificate
	cert.StartTLS()
	cfg := cert.TLS.Clone()
	roots := x509.NewCertPool()
	roots.AddCert(cert.Certificate())
	cert.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	url, _ := serveKeepAlive(t, ln, "https://", answer)
	return url, roots
}

// serveKeepAlive runs keepAliveServer's loop on ln.
func serveKeepAlive(t *testing.T, ln net.Listener, scheme string, answer func(i int, c net.Conn)) (string, *atomic.Int32) {
	t.Cleanup(func() { ln.Close() })
	var requests atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for i := 0; ; i++ {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					requests.Add(1)
					answer(i, c)
				}
			}()
		}
	}()
	return scheme + ln.Addr().String(), &requests
}

// A connection may also end after the request went out on it, with no
// answer: a GET is sent again on a new connection and succeeds, a POST is
// not sent twice.
func TestTransportSendsAGETAgainWhenAReusedConnectionGaveNoAnswer(t *testing.T) {
	url, requests := keepAliveServer(t, func(i int, c net.Conn) {
		if i == 0 {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			return
		}
		c.Close() // the second request on a connection gets no answer
	})
	tr := newTestTransport(t)
	get(t, t.Context(), tr, url)
	if _, body := get(t, t.Context(), tr, url); body != "ok" {
		t.Fatalf("body %q", body)
	}
	if n := requests.Load(); n != 3 {
		t.Fatalf("the server read %d requests, want 3 (one unanswered, sent again)", n)
	}
	req, _ := http.NewRequest(http.MethodPost, url, nil)
	if resp, err := tr.RoundTrip(req); err == nil {
		resp.Body.Close()
		t.Fatal("a POST that got no answer succeeded: it was sent again")
	}
	if n := requests.Load(); n != 4 {
		t.Errorf("the server read %d requests, want 4 (the POST once)", n)
	}
}

// A request that got no answer on a reused connection is sent again on a
// new connection, not on the next idle one, which may be as dead: with
// four idle connections that each drop their next request, a GET is
// answered after one of them.
func TestTransportSendsAgainOnANewConnectionNotTheNextIdle(t *testing.T) {
	const conns = 4
	var first atomic.Int32
	allIn := make(chan struct{})
	url, requests := keepAliveServer(t, func(i int, c net.Conn) {
		if i > 0 {
			c.Close() // a connection's second request gets no answer
			return
		}
		if first.Add(1) == conns {
			close(allIn)
		}
		<-allIn // the first calls wait for one another: one connection each
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	tr := newTestTransport(t)
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() { get(t, t.Context(), tr, url) })
	}
	wg.Wait()
	if _, body := get(t, t.Context(), tr, url); body != "ok" {
		t.Fatalf("body %q", body)
	}
	if n := requests.Load(); n != conns+2 {
		t.Fatalf("the server read %d requests, want %d (one unanswered, sent again once)", n, conns+2)
	}
}

// A request that got no answer on a reused connection by its attempt's
// bound is over: it is not sent again on a new connection, with no time
// left for one, and its error is the timeout, not a dial's.
func TestTransportSendsNothingAgainOnceTheAttemptsBoundHasPassed(t *testing.T) {
	silent := make(chan struct{})
	t.Cleanup(func() { close(silent) })
	url, requests := keepAliveServer(t, func(i int, c net.Conn) {
		if i > 0 {
			<-silent // reads the request, never answers
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	tr := newTestTransport(t)
	get(t, t.Context(), tr, url)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(withAttemptTimeout(ctx, 200*time.Millisecond), http.MethodGet, url, nil)
	_, err := tr.RoundTrip(req)
	var opErr *net.OpError
	switch {
	case err == nil:
		t.Fatal("a request with no answer succeeded")
	case errors.As(err, &opErr) && opErr.Op == "dial":
		t.Fatalf("sent again after its bound passed: %v", err)
	case !errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatalf("error %v, want the attempt's timeout", err)
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("the server read %d requests, want 2", n)
	}
}

// Bytes a server writes to an idle connection unasked are no request's
// answer: the connection is not used again.
func TestTransportTakesNoUnaskedBytesForAnAnswer(t *testing.T) {
	stale := make(chan struct{})
	var once sync.Once
	url, _ := keepAliveServer(t, func(i int, c net.Conn) {
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nr%d", i)
		once.Do(func() { // on the first connection only, after its first answer
			time.AfterFunc(20*time.Millisecond, func() {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale")
				close(stale)
			})
		})
	})
	tr := newTestTransport(t)
	if _, body := get(t, t.Context(), tr, url); body != "r0" {
		t.Fatalf("first call: body %q", body)
	}
	<-stale
	// A new connection, then kept: its answers, in turn.
	for i, want := range []string{"r0", "r1", "r2"} {
		if _, body := get(t, t.Context(), tr, url); body != want {
			t.Fatalf("call %d after unasked bytes: body %q, want %q", i+2, body, want)
		}
	}
}

// An answer followed at once by bytes no request asked for, plain or over
// TLS (in a record of their own, which tls.Conn may already hold): the
// connection is not used again, so they are never read as an answer.
func TestTransportTakesNoTrailingBytesForAnAnswer(t *testing.T) {
	const stale = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale"
	for _, withTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "TLS"}[withTLS], func(t *testing.T) {
			written := make(chan struct{}, 1)
			answer := func(i int, c net.Conn) {
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nr%d", i)
				if i == 0 {
					io.WriteString(c, stale) // plain: likely in the same segment
					written <- struct{}{}
				}
			}
			var url string
			tr := newTestTransport(t)
			if withTLS {
				var roots *x509.CertPool
				url, roots = keepAliveTLSServer(t, answer)
				tr = NewTransport(&tls.Config{RootCAs: roots})
				t.Cleanup(tr.CloseIdleConnections)
			} else {
				url, _ = keepAliveServer(t, answer)
			}
			for call := range 4 {
				_, body := get(t, t.Context(), tr, url)
				if body != "r0" {
					t.Fatalf("call %d: body %q, want each on a new connection's r0", call+1, body)
				}
				<-written
			}
		})
	}
}

// A 408 on a reused connection is the server's idle timeout, sent as the
// request went out: the request is sent again on a new connection.
func TestTransportSendsAgainAfterA408OnAReusedConnection(t *testing.T) {
	url, requests := keepAliveServer(t, func(i int, c net.Conn) {
		if i == 0 {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
			return
		}
		if i == 1 {
			io.WriteString(c, "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
			c.Close()
			return
		}
	})
	tr := newTestTransport(t)
	get(t, t.Context(), tr, url)
	resp, body := get(t, t.Context(), tr, url)
	if resp.StatusCode != http.StatusOK || body != "first" {
		t.Errorf("after a 408 on a reused connection: %d %q, want a new connection's 200", resp.StatusCode, body)
	}
	if n := requests.Load(); n != 3 {
		t.Errorf("the server read %d requests, want 3", n)
	}
}

func TestTransportHonoursConnectionClose(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "once")
	}, false)
	tr := newTestTransport(t)
	for range 3 {
		if _, body := get(t, t.Context(), tr, srv.URL); body != "once" {
			t.Fatalf("body %q", body)
		}
	}
	if n := conns.opened.Load(); n != 3 {
		t.Errorf("opened %d connections, want one a call", n)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if n := len(tr.idle); n != 0 {
		t.Errorf("%d hosts with idle connections the server closes, want none", n)
	}
}

func TestTransportSkipsInformationalAnswers(t *testing.T) {
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "the answer")
	}, false)
	resp, body := get(t, t.Context(), newTestTransport(t), srv.URL)
	if resp.StatusCode != http.StatusOK || body != "the answer" {
		t.Errorf("got %d %q, want 200 after the 103", resp.StatusCode, body)
	}
}

// rawServer answers every connection's first request with write, then
// closes it.
func rawServer(t *testing.T, write func(net.Conn)) string {
	url, _ := keepAliveServer(t, func(_ int, c net.Conn) {
		write(c)
		c.Close()
	})
	return url
}

func TestTransportBoundsTheAnswersHead(t *testing.T) {
	url := rawServer(t, func(c net.Conn) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		line := []byte("X-Padding: " + strings.Repeat("a", 1000) + "\r\n")
		for {
			if _, err := c.Write(line); err != nil {
				return
			}
		}
	})
	// Within the bound the attempt fails in milliseconds; without it,
	// the deadline would end an endless read with another error.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	_, err := newTestTransport(t).RoundTrip(req)
	if err == nil || !strings.Contains(err.Error(), "headers exceed") {
		t.Fatalf("endless headers: error %v, want one saying the headers exceed the limit", err)
	}
}

func TestTransportReadsHTTP10BodiesToTheClose(t *testing.T) {
	url := rawServer(t, func(c net.Conn) { io.WriteString(c, "HTTP/1.0 200 OK\r\n\r\nuntil the end") })
	resp, body := get(t, t.Context(), newTestTransport(t), url)
	if body != "until the end" || !resp.Close {
		t.Errorf("HTTP/1.0 answer: body %q, Close %v", body, resp.Close)
	}
}

func TestTransportDeadlineIsTheContexts(t *testing.T) {
	release := make(chan struct{})
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-body" {
			io.WriteString(w, "first part;")
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}, false)
	t.Cleanup(func() { close(release) })
	tr := newTestTransport(t)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/slow-head", nil)
	_, err := tr.RoundTrip(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("no head before the deadline: error %v, want context.DeadlineExceeded", err)
	}

	ctx, cancel = context.WithCancel(t.Context())
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/slow-body", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len("first part;"))
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	read := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(buf)
		read <- err
	}()
	select {
	case err := <-read:
		if err == nil {
			t.Error("reading the body after its context ended succeeded")
		}
	case <-time.After(5 * time.Second):
		resp.Body.Close() // ends the read
		t.Fatal("reading the body after its context ended did not end")
	}
	resp.Body.Close()
	testkit.WaitFor(t, 5*time.Second, "both connections to close", func() bool { return conns.closed.Load() == 2 })
}

// lateContext is a context whose deadline has passed before its own timer
// said so: the moment between a connection's deadline and its context's.
type lateContext struct{ context.Context }

func (lateContext) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

// A connection's deadline that passes a moment before its context sees
// its own is reported as the context's (DeadlineExceeded, as
// http.Transport does), not as an i/o timeout; without a deadline passed
// the connection's error stands.
func TestCtxErrNamesTheContextsPassedDeadline(t *testing.T) {
	ioTimeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	if err := ctxErr(lateContext{context.Background()}, ioTimeout); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a passed deadline not yet seen by its context: %v, want context.DeadlineExceeded", err)
	}
	if err := ctxErr(context.Background(), ioTimeout); err != error(ioTimeout) {
		t.Errorf("no deadline: %v, want the connection's error", err)
	}
}

// Over TLS the pool speaks HTTP/1.1 even to a server that offers HTTP/2,
// and checks the certificate against the host.
func TestTransportSpeaksHTTP11OverTLS(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s over TLS", r.Proto)
	}, true)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	tr := NewTransport(&tls.Config{RootCAs: roots, NextProtos: []string{"h2", "http/1.1"}})
	t.Cleanup(tr.CloseIdleConnections)
	for range 3 {
		resp, body := get(t, t.Context(), tr, srv.URL)
		if body != "HTTP/1.1 over TLS" || resp.ProtoMajor != 1 {
			t.Fatalf("%s, body %q; want HTTP/1.1 both ways", resp.Proto, body)
		}
	}
	if n := conns.opened.Load(); n != 1 {
		t.Errorf("opened %d connections, want 1", n)
	}

	untrusted := newTestTransport(t)
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	var unknownAuthority x509.UnknownAuthorityError
	if _, err := untrusted.RoundTrip(req); !errors.As(err, &unknownAuthority) {
		t.Errorf("a certificate from an unknown authority: error %v", err)
	}
	// The test certificate names 127.0.0.1 and example.com, not localhost.
	req, _ = http.NewRequest(http.MethodGet, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), nil)
	var wrongHost x509.HostnameError
	if _, err := tr.RoundTrip(req); !errors.As(err, &wrongHost) {
		t.Errorf("a certificate for another host: error %v", err)
	}
}

// Idle connections are closed after their time whether or not more
// calls come, the older ones under a connection kept busy too.
func TestTransportClosesIdleConnectionsAfterTheirTime(t *testing.T) {
	arrived := make(chan struct{}, 3)
	release := make(chan struct{})
	var held atomic.Bool
	held.Store(true)
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if held.Load() {
			arrived <- struct{}{}
			<-release
		}
	}, false)
	tr := newTestTransport(t)
	tr.idleTimeout = 300 * time.Millisecond
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { get(t, t.Context(), tr, srv.URL) })
	}
	for range 3 {
		<-arrived
	}
	held.Store(false)
	close(release)
	wg.Wait()
	// One connection kept busy; the two under it wait and are closed.
	testkit.WaitFor(t, 5*time.Second, "the two connections under the busy one to close", func() bool {
		get(t, t.Context(), tr, srv.URL)
		return conns.closed.Load() == 2
	})
	// No more calls: the last closes too.
	testkit.WaitFor(t, 5*time.Second, "the last idle connection to close", func() bool { return conns.closed.Load() == 3 })
	if n := conns.opened.Load(); n != 3 {
		t.Errorf("opened %d connections, want 3", n)
	}
}

func TestTransportKeepsAtMostMaxIdlePerHost(t *testing.T) {
	arrived := make(chan struct{}, 5)
	release := make(chan struct{})
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}, false)
	tr := newTestTransport(t)
	tr.maxIdle = 2
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { get(t, t.Context(), tr, srv.URL) })
	}
	for range 5 {
		<-arrived
	}
	close(release)
	wg.Wait()
	testkit.WaitFor(t, 5*time.Second, "three connections over the limit to close", func() bool { return conns.closed.Load() == 3 })
	tr.mu.Lock()
	idle := len(tr.idle[poolKey{host: strings.TrimPrefix(srv.URL, "http://")}])
	tr.mu.Unlock()
	if idle != 2 {
		t.Errorf("%d idle connections, want 2", idle)
	}
}

func TestTransportCloseIdleConnectionsEndsTheIdleAndTheSweep(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {}, false)
	tr := NewTransport(nil)
	get(t, t.Context(), tr, srv.URL)
	tr.CloseIdleConnections()
	testkit.WaitFor(t, 5*time.Second, "the idle connection to close", func() bool { return conns.closed.Load() == 1 })
	tr.mu.Lock()
	sweep := tr.sweep
	tr.mu.Unlock()
	if sweep != nil {
		t.Error("a sweep is still due with no idle connection")
	}
	get(t, t.Context(), tr, srv.URL) // and the pool goes on
}

func TestTransportAddress(t *testing.T) {
	for _, c := range []struct {
		url, want string
	}{
		{"http://provider.example/x", "provider.example:80"},
		{"https://provider.example/x", "provider.example:443"},
		{"https://provider.example:8443/x", "provider.example:8443"},
		{"http://[::1]/x", "[::1]:80"},
		{"https://[::1]:9000/x", "[::1]:9000"},
	} {
		u, _ := url.Parse(c.url)
		if got := address(u, u.Scheme == "https"); got != c.want {
			t.Errorf("address(%s) = %s, want %s", c.url, got, c.want)
		}
	}
}

func TestTransportOverIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "v6") }))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	if _, body := get(t, t.Context(), newTestTransport(t), srv.URL); body != "v6" {
		t.Errorf("body %q", body)
	}
}

// A proxy named by the environment carries the requests for the hosts it
// covers. net/http reads the environment once per process, so the test
// runs itself again with HTTP_PROXY set.
func TestTransportGoesThroughTheEnvironmentsProxy(t *testing.T) {
	if target := os.Getenv("PAYBRIDGE_TEST_PROXIED_URL"); target != "" {
		tr := newTestTransport(t)
		_, body := get(t, t.Context(), tr, target)
		if body != "from the proxy" {
			t.Fatalf("body %q, want the proxy's", body)
		}
		// An attempt's bound holds through the proxy too.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(withAttemptTimeout(ctx, 100*time.Millisecond), http.MethodGet, target+"/stall", nil)
		start := time.Now()
		if _, err := tr.RoundTrip(req); err == nil || time.Since(start) > 5*time.Second {
			t.Fatalf("a proxy that never answers: error %v after %s, want a timeout at the attempt's bound", err, time.Since(start))
		}
		return
	}
	var seen atomic.Value
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/stall") {
			<-r.Context().Done() // until the child gives up
			return
		}
		seen.Store(r.URL.String())
		io.WriteString(w, "from the proxy")
	}))
	t.Cleanup(proxy.Close)
	const target = "http://provider.invalid/v1/payments/p1"
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestTransportGoesThroughTheEnvironmentsProxy$")
	cmd.Env = append(os.Environ(), "HTTP_PROXY="+proxy.URL, "NO_PROXY=", "PAYBRIDGE_TEST_PROXIED_URL="+target)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the proxied run failed: %v\n%s", err, out)
	}
	if got, _ := seen.Load().(string); got != target {
		t.Errorf("the proxy was asked for %q, want %q", got, target)
	}
}

// An announced length takes memory only as its bytes come: a provider
// announcing 1 MiB and sending five bytes costs five bytes' worth.
func TestReadBodyTakesNoMemoryForAnAnnouncedLength(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	body, err := readBody(strings.NewReader("short"), MaxBodyBytes)
	runtime.ReadMemStats(&after)
	if err != nil || string(body) != "short" {
		t.Fatalf("readBody: %q, %v", body, err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
		t.Errorf("reading 5 bytes of an announced 1 MiB allocated %d bytes", grew)
	}
	if body, err := readBody(strings.NewReader("exact"), 5); err != nil || string(body) != "exact" {
		t.Errorf("a body of its announced length: %q, %v", body, err)
	}
	if _, err := readBody(strings.NewReader("cut"), 5); err == nil {
		t.Error("a body shorter than its announced length was taken")
	}
}
