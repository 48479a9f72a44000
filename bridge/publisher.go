package bridge

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge/events"
)

// publisher sends CloudEvents through JetStream and waits for the stream's
// acknowledgement. The event id doubles as Nats-Msg-Id, so a repeat within
// the stream's duplicate window is stored once however often it is sent.
type publisher struct {
	js      jetstream.JetStream
	mode    events.Mode
	retries int
	metrics *metrics
}

// Publish sends e and returns once JetStream has stored it (or already had
// it). Failed attempts are retried a few times before giving up.
func (p *publisher) Publish(ctx context.Context, subject string, e events.Event) error {
	msg, err := events.Encode(subject, e, p.mode)
	if err != nil {
		return fmt.Errorf("encoding event %s: %w", e.ID, err)
	}
	wait := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		_, err = p.js.PublishMsg(ctx, msg, jetstream.WithMsgID(e.ID))
		if err == nil || attempt == p.retries || ctx.Err() != nil {
			break
		}
		p.metrics.publishRetries.Inc()
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait *= 2
	}
	if err != nil {
		return fmt.Errorf("publishing event %s: %w", e.ID, err)
	}
	return nil
}
