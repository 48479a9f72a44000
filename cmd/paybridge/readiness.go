package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// How often, and how long, readiness asks JetStream whether it answers.
// Probes and scrapes between two asks get the last answer, so that they
// cost NATS nothing; an ask that takes longer than a probe's usual 1 s
// timeout would say nothing a failed probe does not.
const (
	jetStreamProbeEvery   = 5 * time.Second
	jetStreamProbeTimeout = time.Second
)

// jetStreamProbe says whether JetStream answers behind the connection. A
// connected server may have it disabled, out of resources or without a
// leader, and then every check and webhook fails while the connection
// alone looks ready.
type jetStreamProbe struct {
	js jetstream.JetStream

	mu     sync.Mutex // held while asking, so that one ask serves every caller
	asked  time.Time
	reason string // "" when JetStream answered
}

func newJetStreamProbe(nc *nats.Conn) (*jetStreamProbe, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("JetStream: %w", err)
	}
	return &jetStreamProbe{js: js}, nil
}

// unavailable is "" when JetStream answered its last ask, else why not.
// It asks for the account's JetStream info (one small request the bridge's
// NATS user may make) when the last answer is older than
// jetStreamProbeEvery.
func (p *jetStreamProbe) unavailable() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.asked.IsZero() && time.Since(p.asked) < jetStreamProbeEvery {
		return p.reason
	}
	ctx, cancel := context.WithTimeout(context.Background(), jetStreamProbeTimeout)
	defer cancel()
	_, err := p.js.AccountInfo(ctx)
	p.asked = time.Now()
	switch {
	case err == nil:
		p.reason = ""
	case errors.Is(err, context.DeadlineExceeded):
		p.reason = fmt.Sprintf("JetStream did not answer within %s", jetStreamProbeTimeout)
	default:
		p.reason = "JetStream: " + err.Error()
	}
	return p.reason
}
