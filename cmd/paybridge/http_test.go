package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paybridge/paybridge/internal/testkit"
)

// inProcessServe is `paybridge serve` run by Main.Run in the test's
// process, so that a test can shorten the HTTP limits first.
type inProcessServe struct {
	httpAddr, adminAddr string
	stderr              *testkit.SyncBuffer
}

// keepLimits restores serve's HTTP limits when the test ends, so that the
// test may change them before it starts serve.
func keepLimits(t *testing.T) {
	saved := [2]httpLimits{webhookLimits, adminLimits}
	t.Cleanup(func() { webhookLimits, adminLimits = saved[0], saved[1] })
}

// startServeInProcess runs serve against a NATS server and both provider
// fakes, and returns once it has logged that it is ready; it is stopped at
// cleanup.
func startServeInProcess(t *testing.T, args ...string) *inProcessServe {
	t.Helper()
	ns, fk := startNATS(t), startFakes(t)
	env := map[string]string{}
	for _, kv := range fk.serveEnv() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	m := &Main{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	ctx, cancel := context.WithCancel(context.Background())
	s := &inProcessServe{stderr: &testkit.SyncBuffer{}}
	done := make(chan error, 1)
	args = append([]string{"serve", "--nats-url", ns.url, "--http-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--log-format", "json"}, args...)
	go func() { done <- m.Run(ctx, args, io.Discard, s.stderr) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
		if err := m.Close(); err != nil {
			t.Errorf("closing serve: %v", err)
		}
	})
	p := &proc{stderr: s.stderr}
	var ready logLine
	testkit.WaitFor(t, 20*time.Second, "serve to be ready", func() bool {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve returned %v before it was ready:\n%s", err, s.stderr)
		default:
		}
		var ok bool
		ready, ok = p.logged("paybridge ready")
		return ok
	})
	s.httpAddr, s.adminAddr = ready.HTTP, ready.Admin
	return s
}

// rawConn is a TCP connection to speak HTTP/1.1 on by hand.
type rawConn struct {
	t *testing.T
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	must(t, err)
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, Conn: c, r: bufio.NewReader(c)}
}

func (c *rawConn) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		c.t.Fatalf("writing to %s: %v", c.RemoteAddr(), err)
	}
}

// response reads the head of one response and what arrives of its body
// within the given time, or returns the error that stopped it.
func (c *rawConn) response(within time.Duration) (*http.Response, error) {
	must(c.t, c.SetReadDeadline(time.Now().Add(within)))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body) // a refusal may be cut short by the close
	resp.Body.Close()
	return resp, nil
}

// statusOf is the status line of resp, for messages.
func statusOf(resp *http.Response) string {
	if resp == nil {
		return "nothing"
	}
	return resp.Status
}

// closedWithin reports whether the server closed the connection (reads
// end in EOF or a reset, after any answer) within the given time.
func (c *rawConn) closedWithin(within time.Duration) bool {
	must(c.t, c.SetReadDeadline(time.Now().Add(within)))
	_, err := io.Copy(io.Discard, c.r)
	var timeout net.Error
	return !(errors.As(err, &timeout) && timeout.Timeout())
}

const getHealthz = "GET /healthz HTTP/1.1\r\nHost: paybridge\r\n\r\n"

// TestSlowWebhookBodyIsCutOff: a client dripping a webhook body with the
// right token loses its connection at the read timeout.
func TestSlowWebhookBodyIsCutOff(t *testing.T) {
	keepLimits(t)
	webhookLimits.readTimeout = 300 * time.Millisecond
	s := startServeInProcess(t)
	c := dial(t, s.httpAddr)
	c.send("POST /webhooks/muvinai?token=" + webhookToken + " HTTP/1.1\r\nHost: paybridge\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	stopDrip := make(chan struct{})
	defer close(stopDrip)
	go func() { // a byte every 50ms, far below the declared 1000
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopDrip:
				return
			case <-tick.C:
				if _, err := io.WriteString(c, " "); err != nil {
					return
				}
			}
		}
	}()
	start := time.Now()
	if !c.closedWithin(5 * time.Second) {
		t.Fatal("a webhook body sent a byte at a time held its connection open past 5s; the read timeout is 300ms")
	}
	t.Logf("connection closed after %s", time.Since(start).Round(time.Millisecond))
}

// TestRefusedWebhookClosesAtOnce: a webhook refused before its body is
// read (a wrong token) is answered 401 and its connection closed, without
// waiting for the body the client is still sending.
func TestRefusedWebhookClosesAtOnce(t *testing.T) {
	s := startServe(t, startFakes(t).serveEnv(), "--nats-url", startNATS(t).url)
	addr := strings.TrimPrefix(s.httpURL, "http://")
	c := dial(t, addr)
	c.send("POST /webhooks/muvinai?token=wrong HTTP/1.1\r\nHost: paybridge\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"id\":")
	resp, err := c.response(5 * time.Second)
	if err != nil {
		t.Fatalf("no answer to a webhook with a wrong token and an unfinished body within 5s: %v", err)
	}
	if resp.StatusCode != http.StatusUnauthorized || !resp.Close {
		t.Errorf("answered %s, Connection: %q; want 401 and Connection: close", resp.Status, resp.Header.Get("Connection"))
	}
	if !c.closedWithin(5 * time.Second) {
		t.Error("the connection stayed open after the 401, waiting for the unread body")
	}
	if code := s.stop(); code != 0 {
		t.Errorf("serve exited %d", code)
	}
}

// TestIdleConnectionIsClosed: a kept-alive connection that sends nothing
// more is closed at the idle timeout.
func TestIdleConnectionIsClosed(t *testing.T) {
	keepLimits(t)
	webhookLimits.idleTimeout = 200 * time.Millisecond
	adminLimits.idleTimeout = 200 * time.Millisecond
	s := startServeInProcess(t)
	for name, addr := range map[string]string{"--http-listen": s.httpAddr, "--admin-listen": s.adminAddr} {
		c := dial(t, addr)
		c.send(getHealthz)
		resp, err := c.response(5 * time.Second)
		if err != nil || resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("%s: /healthz answered %s, %v; want 200 on a kept-alive connection", name, statusOf(resp), err)
		}
		if !c.closedWithin(5 * time.Second) {
			t.Errorf("%s: an idle keep-alive connection stayed open past 5s; the idle timeout is 200ms", name)
		}
	}
}

// TestConnectionCap: beyond the cap, a connection is accepted by the
// kernel but not served until another one closes.
func TestConnectionCap(t *testing.T) {
	keepLimits(t)
	webhookLimits.maxConns = 2
	s := startServeInProcess(t)
	var held []*rawConn
	for i := range 2 {
		c := dial(t, s.httpAddr)
		c.send(getHealthz)
		if resp, err := c.response(5 * time.Second); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("connection %d within the cap: %s, %v", i+1, statusOf(resp), err)
		}
		held = append(held, c)
	}
	third := dial(t, s.httpAddr)
	third.send(getHealthz)
	if resp, err := third.response(300 * time.Millisecond); err == nil {
		t.Fatalf("a third connection was served (%s) while two were open; the cap is 2", resp.Status)
	}
	held[0].Close()
	if resp, err := third.response(5 * time.Second); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the third connection was not served once one closed: %s, %v", statusOf(resp), err)
	}
}

// TestHeaderSizeLimit: a request whose headers pass the limit is refused
// with 431 on both listeners.
func TestHeaderSizeLimit(t *testing.T) {
	s := startServeInProcess(t)
	big := strings.Repeat("x", 100<<10)
	for name, addr := range map[string]string{"--http-listen": s.httpAddr, "--admin-listen": s.adminAddr} {
		c := dial(t, addr)
		c.send(fmt.Sprintf("GET /healthz HTTP/1.1\r\nHost: paybridge\r\nX-Big: %s\r\n\r\n", big))
		resp, err := c.response(5 * time.Second)
		if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%s: 100 KiB of headers answered %s, %v; want 431", name, statusOf(resp), err)
		}
	}
}
