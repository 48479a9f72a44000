package main

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paybridge/paybridge/internal/testkit"
)

// TestDemo runs the demo in-process: it prints where everything runs,
// an event for each payment's first check, and commands that work; at
// the end it exits cleanly and removes its data.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &testkit.SyncBuffer{}, &testkit.SyncBuffer{}
	m := NewMain()
	done := make(chan error, 1)
	go func() {
		done <- m.Run(ctx, []string{"demo", "--embedded-listen", "127.0.0.1:-1", "--http-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--payments", "2"}, stdout, stderr)
	}()

	want := []string{"coinbar demo-coinbar-0001 new → pending", "coinbar demo-coinbar-0002 new → pending",
		"muvinai demo-muvinai-0001 new → pending", "muvinai demo-muvinai-0002 new → pending"}
	testkit.WaitFor(t, 20*time.Second, "an event per payment", func() bool {
		select {
		case err := <-done:
			t.Fatalf("demo ended early: %v\n%s\n%s", err, stdout, stderr)
		default:
		}
		for _, w := range want {
			if !strings.Contains(stdout.String(), w) {
				return false
			}
		}
		return true
	})
	banner := stdout.String()
	dataDir := regexp.MustCompile(`data in (\S+), removed at exit`).FindStringSubmatch(banner)
	try := regexp.MustCompile(`go run ./cmd/paybridge (check --nats-url \S+ coinbar demo-coinbar-0001)\n`).FindStringSubmatch(banner)
	if dataDir == nil || try == nil {
		t.Fatalf("the banner does not say where the data is or what to try:\n%s", banner)
	}

	// The printed command works against the running demo.
	out := &testkit.SyncBuffer{}
	client := NewMain()
	if err := client.Run(context.Background(), strings.Fields(try[1]), out, out); err != nil {
		t.Errorf("%s: %v\n%s", try[1], err, out)
	}
	must(t, client.Close())
	if !strings.HasPrefix(out.String(), "coinbar demo-coinbar-0001: pending") {
		t.Errorf("%s printed %q", try[1], out)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("demo returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("demo did not return after its context ended")
	}
	must(t, m.Close())
	if _, err := os.Stat(dataDir[1]); !os.IsNotExist(err) {
		t.Errorf("the demo's data %s is still there: %v", dataDir[1], err)
	}
	if stderr.String() != "" {
		t.Errorf("the demo logged at warn or above:\n%s", stderr)
	}
}
