// Package stopsignal catches the signals that ask paybridge to stop from
// the start of the program, not from the start of main: the Go runtime
// kills a process on a SIGTERM nobody has asked for, and main begins only
// after every imported package is initialized (milliseconds of
// OpenTelemetry, Prometheus and NATS). This package's few imports are
// initialized among the first, and it asks for the signals as soon as they
// are, so a signal during the rest of the start is a request to stop.
package stopsignal

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// caught holds a signal that came before Context was called.
var caught = make(chan os.Signal, 1)

func init() { signal.Notify(caught, Signals()...) }

// Signals are the signals that stop paybridge: SIGTERM, SIGHUP (a closed
// terminal, or a supervisor's hang-up) and SIGINT, in the order Notify
// asks for them; SIGHUP not when it was ignored as the program started,
// as under nohup, which asks for it to be ignored.
func Signals() []os.Signal {
	sigs := []os.Signal{syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	// Last, so that a handler for an ignored SIGINT (which Notify
	// installs) shows that the others are caught too: tests wait for it.
	return append(sigs, os.Interrupt)
}

// Context returns a context that ends at the first of the Signals since
// the program started, and stop, after which a signal has its default
// effect again: a second one kills the process. Call it once.
func Context() (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		select {
		case <-caught:
			cancel()
		case <-stopped:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(caught)
			close(stopped)
			cancel()
		})
	}
}
