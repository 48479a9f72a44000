package cli

import (
	"errors"
	"flag"
	"fmt"
	"testing"
)

func TestExitCode(t *testing.T) {
	for err, want := range map[error]int{
		nil:                                   0,
		flag.ErrHelp:                          0,
		fmt.Errorf("parse: %w", flag.ErrHelp): 0,
		Usagef("--rate %q: bad", "x"):         2,
		fmt.Errorf("serve: %w", Usagef("--replicas must be 1 or 3")): 2,
		errors.New("NATS unreachable"):                               1,
	} {
		if got := ExitCode(err); got != want {
			t.Errorf("ExitCode(%v) = %d, want %d", err, got, want)
		}
	}
	if msg := Usagef("--rate %q: bad", "x").Error(); msg != `--rate "x": bad` {
		t.Errorf("message %q", msg)
	}
}
