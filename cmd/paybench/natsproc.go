package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsProcess is a real nats-server run as a child process (--nats
// subprocess): its CPU, memory and profile are its own, apart from
// paysim's and the load's.
type natsProcess struct {
	cmd     *exec.Cmd
	url     string
	profile string // host:port of its /debug/pprof
	stderr  *tail
	exited  chan struct{}
	err     error
}

// startNATSProcess starts nats-server with JetStream on a store under dir
// and waits until JetStream answers.
func startNATSProcess(ctx context.Context, o options, dir string, log io.Writer) (*natsProcess, error) {
	bin := o.natsBin
	if bin == "" {
		fmt.Fprintln(log, "paybench: building nats-server")
		var err error
		if bin, err = buildNATSServer(ctx, dir); err != nil {
			return nil, err
		}
	}
	client, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	prof, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(client)
	_, profPort, _ := net.SplitHostPort(prof)
	p := &natsProcess{url: "nats://" + client, profile: prof, stderr: &tail{max: 8 << 10}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "-a", "127.0.0.1", "-p", port, "-js", "-sd", filepath.Join(dir, "nats"),
		"-n", "paybench", "--profile", profPort)
	p.cmd.Stderr = p.stderr
	p.cmd.Stdout = p.stderr
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	if err := p.waitReady(ctx, readyWithin); err != nil {
		return nil, errors.Join(err, p.stop(ctx))
	}
	fmt.Fprintf(log, "paybench: nats-server running, pid %d, %s\n", p.pid(), p.url)
	return p, nil
}

// buildNATSServer builds the nats-server of this module's go.mod into dir.
func buildNATSServer(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "nats-server")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/nats-io/nats-server/v2")
	var msg bytes.Buffer
	cmd.Stdout, cmd.Stderr = &msg, &msg
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build nats-server: %v\n%s", err, bytes.TrimSpace(msg.Bytes()))
	}
	return out, nil
}

// waitReady connects until JetStream answers.
func (p *natsProcess) waitReady(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		if nc, err := nats.Connect(p.url, nats.Timeout(time.Second)); err == nil {
			js, err := jetstream.New(nc)
			if err == nil {
				actx, cancel := context.WithTimeout(ctx, time.Second)
				_, err = js.AccountInfo(actx)
				cancel()
			}
			nc.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("nats-server exited (%v):\n%s", p.err, p.stderr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nats-server not ready within %s:\n%s", within, p.stderr)
		}
	}
}

func (p *natsProcess) pid() int { return p.cmd.Process.Pid }

// cpuProfile fetches a CPU profile of the next d from nats-server's
// profiling port.
func (p *natsProcess) cpuProfile(ctx context.Context, d time.Duration, w io.Writer) error {
	return fetchCPUProfile(ctx, "nats-server", p.profile, d, w)
}

// stop asks nats-server to shut down and kills it if it does not in time.
func (p *natsProcess) stop(ctx context.Context) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-ctx.Done():
	case <-time.After(20 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	return fmt.Errorf("nats-server did not stop in time:\n%s", p.stderr)
}

// natsPid is the NATS server's process when it runs apart, else 0.
func (w *world) natsPid() int {
	if w == nil || w.natsProc == nil {
		return 0
	}
	return w.natsProc.pid()
}
