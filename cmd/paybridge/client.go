package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/client"
)

// defaultClientURL is where the client subcommands look for NATS.
const defaultClientURL = "nats://127.0.0.1:4222"

// defaultStatusTimeout is how long status waits for a reply by default: a
// lookup reads only the store. check waits client.CheckTimeout.
const defaultStatusTimeout = 10 * time.Second

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

// request sends one check or lookup through the client, on the subject of
// --subject (given to the client by subject), and prints the outcome to
// stdout; an error reply is printed too and returned as errAnswered.
func (m *Main) request(ctx context.Context, r requestFlags, subject func(string) client.Option, stdout, stderr io.Writer,
	send func(context.Context, *client.Client, client.RequestOption) (paybridge.Reply, error)) error {
	nc, err := m.connectClient(r.nats, stderr)
	if err != nil {
		return err
	}
	c, err := client.New(nc, subject(r.subject))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var replyJSON []byte
	rep, err := send(ctx, c, client.ReplyJSON(&replyJSON))
	switch {
	case errors.Is(err, client.ErrNoBridge):
		return fmt.Errorf("nothing answers on %s at %s: is paybridge serve running there?", r.subject, redactURLs(r.nats.url))
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no reply on %s within %s", r.subject, r.timeout)
	}
	return printReply(stdout, rep, replyJSON, err, r.json)
}
