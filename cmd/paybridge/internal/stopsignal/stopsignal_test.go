//go:build unix

package stopsignal

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// TestASignalBeforeContextIsKept: a SIGTERM that comes before main asks
// for the context (during the rest of the program's start) ends it at
// once, instead of killing the process or being lost.
func TestASignalBeforeContextIsKept(t *testing.T) {
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctx, stop := Context()
	defer stop()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the context did not end at the signal")
	}
}
