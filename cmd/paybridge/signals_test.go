//go:build unix

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers/fake"
)

// TestSIGHUPDrains: SIGHUP (a closed terminal, a supervisor's hang-up)
// drains like SIGTERM: the check in flight on a slow provider is answered,
// then serve exits 0.
func TestSIGHUPDrains(t *testing.T) {
	if signal.Ignored(syscall.SIGHUP) {
		// This test runs under nohup, and serve would inherit the ignored
		// SIGHUP and rightly leave it ignored (TestSIGHUPIgnoredUnderNohup).
		// Caught here, it is not ignored in a child.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		t.Cleanup(func() { signal.Stop(hup) })
	}
	ns, fk := startNATS(t), startFakes(t)
	must(t, fk.coinbar.Add(fake.Payment{ID: "slow-hup", Amount: "1.00", Currency: "EUR", Steps: []fake.Step{{Status: "PENDING"}}}))
	must(t, fk.coinbar.Fault("slow-hup", fake.Fault{Times: 1, Delay: time.Second}))
	s := startServe(t, fk.serveEnv(), "--nats-url", ns.url)
	nc, err := nats.Connect(ns.url)
	must(t, err)
	defer nc.Close()

	type answer struct {
		msg *nats.Msg
		err error
	}
	answered := make(chan answer, 1)
	go func() {
		msg, err := nc.Request("payments.check", []byte(`{"provider":"coinbar","payment_id":"slow-hup"}`), 20*time.Second)
		answered <- answer{msg, err}
	}()
	testkit.WaitFor(t, 10*time.Second, "the check to reach the provider", func() bool { return fk.coinbar.Calls("slow-hup") > 0 })
	must(t, s.cmd.Process.Signal(syscall.SIGHUP))
	if code := s.wait(40 * time.Second); code != 0 {
		t.Errorf("serve exited %d after SIGHUP:\n%s", code, s.stderr)
	}
	a := <-answered
	if a.err != nil {
		t.Fatalf("the check in flight at SIGHUP: %v", a.err)
	}
	var rep paybridge.Reply
	if a.msg.Header.Get("Nats-Service-Error-Code") != "" || json.Unmarshal(a.msg.Data, &rep) != nil || rep.Status != paybridge.StatusPending {
		t.Errorf("the check in flight at SIGHUP was answered %s", a.msg.Data)
	}
	if _, ok := s.logged("stopped"); !ok {
		t.Errorf("serve did not log its drain:\n%s", s.stderr)
	}
}

// TestSIGHUPIgnoredUnderNohup: started with SIGHUP ignored (nohup, a
// trap ""), serve leaves it ignored: a hang-up does not stop it.
func TestSIGHUPIgnoredUnderNohup(t *testing.T) {
	ns, fk := startNATS(t), startFakes(t)
	p := startIgnoring(t, "HUP", fk.serveEnv(), "serve", "--nats-url", ns.url,
		"--http-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log-format", "json")
	var ready logLine
	testkit.WaitFor(t, 20*time.Second, "serve to be ready", func() bool {
		if p.exited() {
			t.Fatalf("serve exited %d:\n%s", p.exit, p.stderr)
		}
		var ok bool
		ready, ok = p.logged("paybridge ready")
		return ok
	})
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	must(t, err)
	if signalMask(status, "SigIgn")&(1<<(syscall.SIGHUP-1)) == 0 {
		t.Fatalf("serve stopped ignoring SIGHUP:\n%s", status)
	}
	// The kernel discards an ignored signal as it is sent.
	must(t, p.cmd.Process.Signal(syscall.SIGHUP))
	if code, body := httpGet(t, "http://"+ready.HTTP+"/readyz"); code != 200 {
		t.Errorf("after SIGHUP /readyz answered %d %q", code, body)
	}
	if code := p.stop(); code != 0 {
		t.Errorf("serve exited %d after SIGTERM:\n%s", code, p.stderr)
	}
}

// TestSignalDuringStartupExitsZero: SIGTERM at any point of serve's start
// ends it with exit status 0 and no error, as once it has started.
func TestSignalDuringStartupExitsZero(t *testing.T) {
	fk := startFakes(t)
	unreachable := freePort(t)
	silent := silentServer(t)
	embedded := func(t *testing.T) []string {
		return []string{"--embedded-listen", "127.0.0.1:-1", "--data-dir", t.TempDir()}
	}
	for _, c := range []struct {
		name string
		args func(t *testing.T) []string
		// signalWhen is when to send SIGTERM.
		signalWhen func(p *proc) bool
	}{
		// Until the process catches it, a signal has its default effect
		// for any program: the earliest moment is when serve asks for it.
		{"as soon as it is caught", embedded, signalsCaught},
		{"before the embedded server starts", embedded, func(p *proc) bool { _, ok := p.logged("HTTP listening"); return ok }},
		{"before the bridge starts", embedded, func(p *proc) bool { _, ok := p.logged("embedded NATS started"); return ok }},
		{"waiting for an unreachable NATS", func(*testing.T) []string {
			return []string{"--nats-url", fmt.Sprintf("nats://127.0.0.1:%d", unreachable)}
		}, func(p *proc) bool { _, ok := p.logged("waiting for NATS"); return ok }},
		{"connecting to a server that does not answer", func(*testing.T) []string {
			return []string{"--nats-url", silent.url}
		}, func(*proc) bool { return silent.connected() }},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"serve", "--http-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log-format", "json"}, c.args(t)...)
			p := startIgnoringSIGINT(t, fk.serveEnv(), args...)
			testkit.WaitFor(t, 20*time.Second, "the moment to signal", func() bool {
				if p.exited() {
					t.Fatalf("serve exited %d before the signal:\n%s", p.exit, p.stderr)
				}
				return c.signalWhen(p)
			})
			must(t, p.cmd.Process.Signal(syscall.SIGTERM))
			if code := p.wait(40 * time.Second); code != 0 {
				t.Errorf("serve exited %d after SIGTERM:\n%s", code, p.stderr)
			}
			for _, line := range p.stderr.Lines() {
				if strings.HasPrefix(line, "paybridge:") || strings.Contains(line, `"level":"ERROR"`) {
					t.Errorf("serve wrote an error on SIGTERM: %s\nstderr:\n%s", line, p.stderr)
				}
			}
		})
	}
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	must(t, ln.Close())
	return port
}

// silent is a TCP server that accepts connections and never says a word,
// as a NATS server's port behind a hung process or a black-holing proxy.
type silent struct {
	url      string
	accepted chan struct{} // closed at the first connection
}

func silentServer(t *testing.T) *silent {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	s := &silent{url: "nats://" + ln.Addr().String(), accepted: make(chan struct{})}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			if conns = append(conns, conn); len(conns) == 1 {
				close(s.accepted)
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, conn := range conns {
			conn.Close()
		}
	})
	return s
}

// connected reports whether a client has connected.
func (s *silent) connected() bool {
	select {
	case <-s.accepted:
		return true
	default:
		return false
	}
}

// startIgnoringSIGINT runs paybridge as start does, but with SIGINT
// ignored, as a shell's background job is: the Go runtime then leaves it
// ignored until the program asks for it, so signalsCaught can see the
// moment it does.
func startIgnoringSIGINT(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	return startIgnoring(t, "INT", env, args...)
}

// startIgnoring runs paybridge as start does, with the signal named
// (INT, HUP) ignored from its start, as a shell's trap "" would leave it.
func startIgnoring(t *testing.T, signal string, env []string, args ...string) *proc {
	t.Helper()
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc to read the process's signal handlers from")
	}
	bin := binary(t, "paybridge")
	p := &proc{t: t, cmd: exec.Command("sh", append([]string{"-c", `trap "" ` + signal + `; exec "$0" "$@"`, bin}, args...)...),
		stdout: &testkit.SyncBuffer{}, stderr: &testkit.SyncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	must(t, p.cmd.Start())
	go func() {
		err := p.cmd.Wait()
		var exitErr *exec.ExitError
		switch {
		case errors.As(err, &exitErr):
			p.exit = exitErr.ExitCode()
		case err != nil:
			p.exit = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// signalsCaught reports whether p, started by startIgnoringSIGINT, runs
// paybridge (the shell has exec'd it) and has a handler for SIGINT, which
// it asks for after SIGTERM and SIGHUP.
func signalsCaught(p *proc) bool {
	pid := p.cmd.Process.Pid
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || filepath.Base(exe) != "paybridge" {
		return false
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	return signalMask(status, "SigCgt")&(1<<(syscall.SIGINT-1)) != 0
}

// signalMask is one of the signal masks (SigCgt, SigIgn) of a
// /proc/<pid>/status; 0 when it is not there.
func signalMask(status []byte, name string) uint64 {
	for _, line := range strings.Split(string(status), "\n") {
		if mask, ok := strings.CutPrefix(line, name+":"); ok {
			bits, _ := strconv.ParseUint(strings.TrimSpace(mask), 16, 64)
			return bits
		}
	}
	return 0
}
