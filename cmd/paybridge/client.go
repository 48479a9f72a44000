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
	account string // "" for the provider's default account
}

func (r *requestFlags) register(f *flagSet, defaultSubject string, defaultTimeout time.Duration) {
	r.nats.register(f, defaultClientURL, "NATS server URL(s), comma-separated")
	f.StringVar(&r.subject, "subject", defaultSubject, "subject the request is sent on")
	f.DurationVar(&r.timeout, "timeout", defaultTimeout, "how long to wait for the reply")
	f.BoolVar(&r.json, "json", false, "print the reply as JSON, exactly as received")
	f.StringVar(&r.account, "account", "", "the merchant account the payment belongs to (empty: the provider's default account)")
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
	if r.account != "" {
		if problem := paybridge.AccountProblem(r.account); problem != "" {
			return f.bad("account", problem)
		}
	}
	return nil
}

// options are the client's options every request takes from the flags.
func (r requestFlags) options() []client.PaymentOption {
	if r.account == "" {
		return nil
	}
	return []client.PaymentOption{client.Account(r.account)}
}

// The options of every request, as Check and Status take them.
func checkOptions(opts []client.RequestOption) []client.CheckOption {
	out := make([]client.CheckOption, len(opts))
	for i, o := range opts {
		out[i] = o
	}
	return out
}

func statusOptions(opts []client.RequestOption) []client.StatusOption {
	out := make([]client.StatusOption, len(opts))
	for i, o := range opts {
		out[i] = o
	}
	return out
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
// --subject (given to the client by subject), with the options of every
// request (--account, and what --json needs), and prints the outcome to
// stdout; an error reply is printed too and returned as errAnswered.
func (m *Main) request(ctx context.Context, r requestFlags, subject func(string) client.Option, stdout, stderr io.Writer,
	send func(context.Context, *client.Client, []client.RequestOption) (paybridge.Reply, error)) error {
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
	opts := []client.RequestOption{client.ReplyJSON(&replyJSON)}
	for _, o := range r.options() {
		opts = append(opts, o)
	}
	rep, err := send(ctx, c, opts)
	switch {
	case errors.Is(err, client.ErrNoBridge):
		return fmt.Errorf("nothing answers on %s at %s: is paybridge serve running there?", r.subject, redactURLs(r.nats.url))
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no reply on %s within %s", r.subject, r.timeout)
	}
	return printReply(stdout, rep, replyJSON, err, r.json)
}

// enqueue publishes one check to the durable intake through the client, on
// the subject of --subject, and prints where the stream stored it: the
// stream and its sequence, or its PubAck as JSON. A refusal the caller can
// act on (an invalid argument, a full stream) is printed as an error reply
// would be and returned as errAnswered.
func (m *Main) enqueue(ctx context.Context, r requestFlags, req checkRequest, stdout, stderr io.Writer) error {
	nc, err := m.connectClient(r.nats, stderr)
	if err != nil {
		return err
	}
	c, err := client.New(nc, client.WithQueuedCheckSubject(r.subject))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var opts []client.EnqueueOption
	for _, o := range req.options() {
		opts = append(opts, o)
	}
	for _, o := range r.options() {
		opts = append(opts, o)
	}
	stored, err := c.Enqueue(ctx, req.Provider, req.PaymentID, opts...)
	switch {
	case errors.Is(err, client.ErrNoCheckStream):
		return fmt.Errorf("no stream takes queued checks on %s at %s: a bridge creates %s when it starts; has paybridge serve run there?",
			r.subject, redactURLs(r.nats.url), client.DefaultCheckStream)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no PubAck on %s within %s: the check may or may not be queued", r.subject, r.timeout)
	case err != nil:
		return printReply(stdout, paybridge.Reply{}, nil, err, r.json)
	case r.json:
		b, err := json.Marshal(stored)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", b)
		return nil
	}
	fmt.Fprintf(stdout, "%s: queued in %s, sequence %d\n", paymentName(req.Provider, r.account, req.PaymentID),
		escapeForTerminal(stored.Stream), stored.Sequence)
	return nil
}
