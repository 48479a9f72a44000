package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// defaultClientURL is where the client subcommands look for NATS.
const defaultClientURL = "nats://127.0.0.1:4222"

// How long the request commands wait for a reply by default. A check may
// wait up to 2 s for provider budget and then give the provider call 30 s
// (bridge.Config.CheckTimeout), so check waits longer than both; a status
// lookup reads only the store.
const (
	defaultCheckTimeout  = 35 * time.Second
	defaultStatusTimeout = 10 * time.Second
)

// requestFlags are the flags of the request/reply subcommands.
type requestFlags struct {
	nats    natsFlags
	subject string
	timeout time.Duration
	json    bool
}

func (r *requestFlags) register(f *flagSet, defaultSubject string, defaultTimeout time.Duration) {
	r.nats.register(f, defaultClientURL, "NATS server URL(s), comma-separated")
	f.StringVar(&r.subject, "subject", defaultSubject, "subject the request is sent on")
	f.DurationVar(&r.timeout, "timeout", defaultTimeout, "how long to wait for the reply")
	f.BoolVar(&r.json, "json", false, "print the reply as JSON, exactly as received")
}

func (r *requestFlags) validate(f *flagSet) error {
	if err := r.nats.validate(f); err != nil {
		return err
	}
	if r.subject == "" {
		return f.bad("subject", "must not be empty")
	}
	if r.timeout <= 0 {
		return f.bad("timeout", "must be positive")
	}
	return nil
}

// connectClient connects a client subcommand and closes the connection
// with m.Close. Connection trouble is logged on stderr; the output proper
// goes to stdout.
func (m *Main) connectClient(n natsFlags, stderr io.Writer) (*nats.Conn, error) {
	m.secrets.add(urlSecrets(n.url)...)
	nc, err := n.connect(textLogger(stderr, slog.LevelInfo, isTerminal(stderr), &m.secrets))
	if err != nil {
		return nil, err
	}
	m.onClose("NATS", func(context.Context) error { nc.Close(); return nil })
	return nc, nil
}

// request sends req as JSON on the subject and prints the reply to
// stdout; an error reply is printed too and returned as errAnswered.
func (m *Main) request(ctx context.Context, r requestFlags, req any, stdout, stderr io.Writer) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encoding the request: %w", err)
	}
	nc, err := m.connectClient(r.nats, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	msg, err := nc.RequestWithContext(ctx, r.subject, body)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("nothing answers on %s at %s: is paybridge serve running there?", r.subject, redactURLs(r.nats.url))
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no reply on %s within %s", r.subject, r.timeout)
	case err != nil:
		return fmt.Errorf("request on %s: %w", r.subject, err)
	}
	return printReply(stdout, msg, r.json)
}
