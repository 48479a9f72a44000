package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/providers/all"
)

// errNoBinary means no paybridge binary could be had; the caller may run
// the bridge in process instead.
var errNoBinary = errors.New("no paybridge binary")

// subprocess is `paybridge serve` run as a child process against the
// world's NATS server and paysim, with --pprof on its admin listener.
type subprocess struct {
	cmd    *exec.Cmd
	admin  string // host:port of /readyz, /metrics and /debug/pprof
	stderr *tail
	// started is just before the process was started.
	started time.Time
	exited  chan struct{}
	err     error // the exit, once exited is closed
}

// readyWithin bounds how long a starting bridge may take to be ready.
const readyWithin = 60 * time.Second

// readyPoll is how often /readyz is asked while the bridge starts: also
// the resolution of a measured time to ready.
const readyPoll = 10 * time.Millisecond

// startSubprocess starts `paybridge serve` and waits until it is ready.
func startSubprocess(ctx context.Context, o options, w *world, log io.Writer) (*subprocess, error) {
	s, err := spawnBridge(ctx, o, w, log)
	if err != nil {
		return nil, err
	}
	if err := s.waitReady(ctx, readyWithin); err != nil {
		return nil, errors.Join(err, s.stop(ctx))
	}
	fmt.Fprintf(log, "paybench: paybridge serve running, pid %d, admin HTTP %s\n", s.pid(), s.admin)
	return s, nil
}

// spawnBridge starts `paybridge serve` and returns at once, so that a
// caller can follow the process from its first moment (started).
func spawnBridge(ctx context.Context, o options, w *world, log io.Writer) (*subprocess, error) {
	bin, err := w.bridgeBinary(ctx, o, log)
	if err != nil {
		return nil, err
	}
	httpAddr, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	adminAddr, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	s := &subprocess{admin: adminAddr, stderr: &tail{max: 8 << 10}, exited: make(chan struct{})}
	args := []string{"serve",
		"--nats-url", w.natsURL,
		"--http-listen", httpAddr,
		"--admin-listen", adminAddr,
		"--max-inflight", strconv.Itoa(o.maxInflight),
		"--log-format", "json", "--log-level", "warn",
		"--pprof"}
	if o.watches > 0 {
		args = append(args, "--watch-schedule", bridge.FormatSchedule(o.watchSchedule),
			"--max-watches", strconv.Itoa(max(o.watches, bridge.DefaultConfig().MaxWatches)))
	}
	args = append(args, o.bridgeFlags...)
	env := os.Environ()
	for _, d := range all.List {
		args = append(args, "--"+d.Flag("base-url"), w.simURL)
		// Keys by environment, so that they stay out of the process list.
		for name, value := range selfCredentials[d.Name] {
			env = append(env, "PAYBRIDGE_"+strings.ToUpper(strings.ReplaceAll(d.Flag(name), "-", "_"))+"="+value)
		}
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = env
	s.cmd.Stderr = s.stderr
	s.started = time.Now()
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.exited) }()
	return s, nil
}

// bridgeBinary is --bridge-bin, or cmd/paybridge built into the world's
// directory on first use, so that a restarted bridge is the same build.
func (w *world) bridgeBinary(ctx context.Context, o options, log io.Writer) (string, error) {
	if o.bridgeBin != "" {
		return o.bridgeBin, nil
	}
	if w.bridgeBin == "" {
		fmt.Fprintln(log, "paybench: building cmd/paybridge")
		bin, err := buildBridge(ctx, w.dir)
		if err != nil {
			return "", err
		}
		w.bridgeBin = bin
	}
	return w.bridgeBin, nil
}

// buildBridge builds cmd/paybridge into dir; it needs to run inside the
// module, as `go run ./cmd/paybench` does.
func buildBridge(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "paybridge")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/paybridge/paybridge/cmd/paybridge")
	var msg bytes.Buffer
	cmd.Stdout, cmd.Stderr = &msg, &msg
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: go build ./cmd/paybridge: %v\n%s", errNoBinary, err, bytes.TrimSpace(msg.Bytes()))
	}
	return out, nil
}

// freeLoopbackPort returns a loopback address no one listens on now.
func freeLoopbackPort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitReady polls /readyz until the bridge takes requests.
func (s *subprocess) waitReady(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.admin+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return s.exitedError()
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(readyPoll):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("paybridge serve not ready within %s:\n%s", within, s.stderr)
		}
	}
}

// exitedError says how the bridge ended; only once exited is closed.
func (s *subprocess) exitedError() error {
	return fmt.Errorf("paybridge serve exited (%v):\n%s", s.err, s.stderr)
}

func (s *subprocess) describe() string {
	return fmt.Sprintf("paybridge serve subprocess, pid %d (RSS and profile are the bridge's alone)", s.pid())
}

func (s *subprocess) pid() int { return s.cmd.Process.Pid }

func (s *subprocess) metricsURL() string { return "http://" + s.admin + "/metrics" }

// profile fetches a CPU profile of the next d from the bridge's
// /debug/pprof.
func (s *subprocess) profile(ctx context.Context, d time.Duration, w io.Writer) error {
	return fetchCPUProfile(ctx, "paybridge serve", s.admin, d, w)
}

// stop drains the bridge with SIGTERM, as an operator would, and kills it
// if it does not exit in time.
func (s *subprocess) stop(ctx context.Context) error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-ctx.Done():
		_ = s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("paybridge serve did not stop in time:\n%s", s.stderr)
	}
	if s.err != nil {
		return fmt.Errorf("paybridge serve: %v\n%s", s.err, s.stderr)
	}
	return nil
}

// tail keeps the last max bytes written to it, for error messages.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}
