package client

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge"
)

// The NATS assets of docs/contract.md, "NATS assets": what a Client uses
// unless an Option says otherwise, the defaults of bridge.Config too.
const (
	DefaultCheckSubject         = paybridge.DefaultCheckSubject
	DefaultStatusSubject        = paybridge.DefaultStatusSubject
	DefaultEventStream          = paybridge.DefaultEventStream
	DefaultStatusChangedSubject = paybridge.DefaultStatusChangedSubject
	DefaultWatchExpiredSubject  = paybridge.DefaultWatchExpiredSubject
	// The durable intake (docs/contract.md, "Queued checks"): Enqueue
	// publishes on the subject, which the bridge's stream captures.
	DefaultQueuedCheckSubject = paybridge.DefaultQueuedCheckSubject
	DefaultCheckStream        = paybridge.DefaultCheckStream
)

// Client speaks to paybridge over a NATS connection the service already
// has. It holds no state of its own beyond the names of the assets, so one
// Client may serve any number of goroutines.
type Client struct {
	nc                   *nats.Conn
	js                   jetstream.JetStream
	checkSubject         string
	queuedCheckSubject   string
	statusSubject        string
	eventStream          string
	statusChangedSubject string
	watchExpiredSubject  string
}

// An Option changes where a Client finds the bridge: for a bridge whose
// bridge.Config names its assets otherwise.
type Option func(*Client) error

// New returns a Client on nc. The connection stays the caller's: the
// Client never closes or drains it.
func New(nc *nats.Conn, opts ...Option) (*Client, error) {
	if nc == nil {
		return nil, errors.New("client.New: nil *nats.Conn")
	}
	c := &Client{
		nc:                   nc,
		checkSubject:         DefaultCheckSubject,
		queuedCheckSubject:   DefaultQueuedCheckSubject,
		statusSubject:        DefaultStatusSubject,
		eventStream:          DefaultEventStream,
		statusChangedSubject: DefaultStatusChangedSubject,
		watchExpiredSubject:  DefaultWatchExpiredSubject,
	}
	for _, opt := range opts {
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("client.New: %w", err)
	}
	c.js = js
	return c, nil
}

// WithCheckSubject sends checks on subject instead of payments.check.
func WithCheckSubject(subject string) Option {
	return func(c *Client) error {
		c.checkSubject = subject
		return checkSubject("check subject", subject)
	}
}

// WithQueuedCheckSubject publishes queued checks (Enqueue) on subject
// instead of payments.check.queued: the bridge's Config.QueuedCheckSubject.
func WithQueuedCheckSubject(subject string) Option {
	return func(c *Client) error {
		c.queuedCheckSubject = subject
		return checkSubject("queued-check subject", subject)
	}
}

// WithStatusSubject sends status lookups on subject instead of
// payments.status.get.
func WithStatusSubject(subject string) Option {
	return func(c *Client) error {
		c.statusSubject = subject
		return checkSubject("status subject", subject)
	}
}

// WithEventStream reads events from the JetStream stream name instead of
// PAYMENT_EVENTS.
func WithEventStream(name string) Option {
	return func(c *Client) error {
		c.eventStream = name
		return checkName("event stream", name)
	}
}

// WithEventSubjects names the subjects of status-changed and watch-expired
// events instead of payments.status.changed and payments.watch.expired.
func WithEventSubjects(statusChanged, watchExpired string) Option {
	return func(c *Client) error {
		c.statusChangedSubject, c.watchExpiredSubject = statusChanged, watchExpired
		if err := checkSubject("status-changed subject", statusChanged); err != nil {
			return err
		}
		return checkSubject("watch-expired subject", watchExpired)
	}
}

// checkSubject refuses what cannot name one of the bridge's subjects: they
// are literal, so a wildcard is a mistake too.
func checkSubject(what, subject string) error {
	if problem := paybridge.SubjectProblem(subject); problem != "" {
		return fmt.Errorf("%s %q: %s", what, subject, problem)
	}
	return nil
}

// checkName refuses what JetStream refuses as a stream or consumer name,
// before any round trip.
func checkName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%s name must not be empty", what)
	case strings.ContainsAny(name, ".*> \t\r\n/\\"):
		return fmt.Errorf("%s name %q must not contain '.', '*', '>', '/', '\\' or white space", what, name)
	}
	return nil
}
