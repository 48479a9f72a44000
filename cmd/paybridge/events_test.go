package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge/internal/cli"
	"github.com/paybridge/paybridge/internal/testkit"
)

// TestEventsEndsWhenNATSCloses: once nats.go closes the connection for
// good (the server's password changed, so it refuses events twice in a
// row), events exits non-zero and says why, instead of idling until
// Ctrl-C. The context's deadline bounds the wait: a hanging events returns
// nil only once it ends.
func TestEventsEndsWhenNATSCloses(t *testing.T) {
	ns := startNATSWith(t, userPass("old-SECRET"))
	url := ns.urlWith("bridge:old-SECRET")
	nc, err := nats.Connect(url)
	must(t, err)
	js, err := jetstream.New(nc)
	must(t, err)
	_, err = js.CreateStream(background(t), jetstream.StreamConfig{Name: "PAYMENT_EVENTS", Subjects: []string{"payments.>"}})
	must(t, err)
	nc.Close()

	m := NewMain()
	m.LookupEnv = func(string) (string, bool) { return "", false }
	t.Cleanup(func() { m.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stderr := &testkit.SyncBuffer{}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, []string{"events", "--nats-url", url}, io.Discard, stderr) }()
	testkit.WaitFor(t, 10*time.Second, "events to follow the stream", func() bool {
		return strings.Contains(stderr.String(), "printing new events")
	})

	ns.auth = userPass("new-SECRET")
	must(t, ns.srv.ReloadOptions(ns.options(ns.port()))) // disconnects clients no longer authorized
	err = <-done
	if ctx.Err() != nil {
		t.Fatalf("events ran until its context ended (%v) after NATS closed the connection; stderr:\n%s", err, stderr)
	}
	if want := "NATS connection closed: nats: Authorization Violation"; err == nil || err.Error() != want {
		t.Errorf("events returned %v, want %q", err, want)
	}
	if !errors.Is(err, nats.ErrAuthorization) || cli.ExitCode(err) != 1 {
		t.Errorf("events returned %#v, exit status %d; want the authorization error and 1", err, cli.ExitCode(err))
	}
	noSecrets(t, stderr.String())
}
