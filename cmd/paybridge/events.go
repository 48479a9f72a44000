package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge/client"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/internal/cli"
)

// eventsOptions are events' command line.
type eventsOptions struct {
	nats            natsFlags
	subject, stream string
	json, all, core bool
}

// eventsFlags defines events' flags on a new flagSet, filling o.
func eventsFlags(o *eventsOptions) *flagSet {
	f := newFlagSet("events", "events [flags]")
	f.fromEnvOnly = natsFlagNames
	o.nats.register(f, defaultClientURL, "NATS server URL(s), comma-separated")
	f.StringVar(&o.subject, "subject", client.DefaultStatusChangedSubject, "event subject to follow ("+client.DefaultWatchExpiredSubject+" for expired watches)")
	f.StringVar(&o.stream, "stream", client.DefaultEventStream, "JetStream stream holding the events")
	f.BoolVar(&o.json, "json", false, "print each event as a CloudEvent in JSON, one per line")
	f.BoolVar(&o.all, "all", false, "print the events already stored, from the first, before new ones")
	f.BoolVar(&o.core, "core", false, "follow the subject with a core NATS subscription instead of the stream: new events only, none while disconnected; needs no JetStream permission (the single-account client user of deploy/nats)")
	return f
}

// runEvents is `paybridge events`: it prints events as they are stored in
// the event stream until ctx ends, or until the subscription ends without
// being asked to, as it does when nats.go closes the connection for good
// (the server refused the credentials twice in a row, say): no waiting
// mends that, so events exits non-zero, as serve does.
func (m *Main) runEvents(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o eventsOptions
	f := eventsFlags(&o)
	pos, err := f.parseOrHelp(args, m.LookupEnv, stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return cli.Usagef("events takes no arguments, got %q", pos[0])
	}
	if o.core && o.all {
		return cli.Usagef("--core follows new events only; it cannot print --all")
	}
	if err := o.nats.validate(f); err != nil {
		return err
	}
	nc, err := m.connectClient(o.nats, stderr)
	if err != nil {
		return err
	}
	p := &eventPrinter{out: stdout, errs: stderr, json: o.json}
	var closed <-chan struct{}
	from, source := "new events", "from stream "+o.stream
	switch {
	case o.core:
		sub, err := p.subscribe(ctx, nc, o.subject)
		if err != nil {
			return err
		}
		defer sub.Unsubscribe()
		closed, source = subscriptionClosed(sub), "(core subscription)"
	default:
		sub, err := p.follow(ctx, nc, o.stream, o.all, o.subject)
		if err != nil {
			return err
		}
		defer sub.Stop()
		closed = sub.Closed()
	}
	if o.all {
		from = "all events"
	}
	fmt.Fprintf(stderr, "printing %s on %s %s; Ctrl-C to stop\n", from, o.subject, source)
	select {
	case <-ctx.Done():
		return nil
	case <-closed:
		if nc.IsClosed() {
			return closedError(nc)
		}
		return fmt.Errorf("following %s stopped; NATS connection %s", o.subject, strings.ToLower(nc.Status().String()))
	}
}

// subscribe prints the events published on subject from now on, read
// with a core subscription.
func (p *eventPrinter) subscribe(ctx context.Context, nc *nats.Conn, subject string) (*nats.Subscription, error) {
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		ev, err := events.Decode(m.Header, m.Data)
		if err != nil {
			p.skip(&client.InvalidMessageError{Subject: m.Subject, Err: err})
			return
		}
		p.print(ctx, ev)
	})
	if err != nil {
		return nil, err
	}
	return sub, nc.Flush()
}

// subscriptionClosed is closed once sub is, as when its connection closes.
func subscriptionClosed(sub *nats.Subscription) <-chan struct{} {
	closed := make(chan struct{})
	sub.SetClosedHandler(func(string) { close(closed) })
	return closed
}

// eventPrinter writes events one line each, readable or as JSON; a
// message that is not a paybridge event is reported on errs and skipped.
type eventPrinter struct {
	mu   sync.Mutex
	out  io.Writer
	errs io.Writer
	json bool
}

// follow reads the stream through the client's Follow (an ordered
// consumer, which needs no acks, leaves nothing behind and recovers across
// reconnects), and prints what arrives until the subscription is stopped
// or the connection closes.
func (p *eventPrinter) follow(ctx context.Context, nc *nats.Conn, stream string, all bool, subjects ...string) (*client.Subscription, error) {
	c, err := client.New(nc, client.WithEventStream(stream))
	if err != nil {
		return nil, err
	}
	sub, err := c.Follow(ctx, client.FollowConfig{Subjects: subjects, FromFirst: all, OnError: p.skip}, p.print)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("stream %s not found: has paybridge serve run on this NATS?", stream)
	}
	if err != nil {
		return nil, err
	}
	return sub, nil
}

func (p *eventPrinter) print(_ context.Context, ev events.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.json {
		fmt.Fprintln(p.out, eventLine(ev))
		return
	}
	// Only the message's body is printed, and it does not depend on the
	// subject Encode wants for the message.
	structured, err := events.Encode(client.DefaultStatusChangedSubject, ev, events.Structured)
	if err != nil {
		fmt.Fprintf(p.errs, "skipping event %s: %s\n", escapeForTerminal(ev.ID), escapeForTerminal(err.Error()))
		return
	}
	fmt.Fprintf(p.out, "%s\n", structured.Data)
}

// skip reports a message that is not a paybridge event; the ordered
// consumer's own trouble it recovers from by itself, as it always has.
func (p *eventPrinter) skip(err error) {
	var invalid *client.InvalidMessageError
	if !errors.As(err, &invalid) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.errs, "skipping a message on %s: %s\n", escapeForTerminal(invalid.Subject), escapeForTerminal(invalid.Err.Error()))
}
