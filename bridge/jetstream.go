package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge/events"
)

// This file holds the JetStream side of the claim (claim.go): the status
// bucket as the Store, the event stream as the Announcer.

// kvStore is the Store on a JetStream KV bucket: every write is a
// compare-and-set against the revision read, so the bucket decides which
// of several racing instances claims a change.
type kvStore struct {
	kv jetstream.KeyValue
}

// Get implements Store. A record not yet published carries its own
// revision.
func (s *kvStore) Get(ctx context.Context, key string) (rec Record, rev uint64, found bool, err error) {
	entry, err := s.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return Record{}, 0, false, nil
	case err != nil:
		return Record{}, 0, false, fmt.Errorf("reading status %s: %w", key, err)
	}
	rec, err = decodeEntry(entry)
	return rec, entry.Revision(), err == nil, err
}

// decodeEntry reads a KV entry into a Record.
func decodeEntry(entry jetstream.KeyValueEntry) (Record, error) {
	var rec Record
	if err := json.Unmarshal(entry.Value(), &rec); err != nil {
		return Record{}, fmt.Errorf("decoding status %s: %w", entry.Key(), err)
	}
	if rec.Revision == 0 {
		rec.Revision = entry.Revision()
	}
	return rec, nil
}

// Put implements Store with kv.Create (rev 0) or kv.Update.
func (s *kvStore) Put(ctx context.Context, key string, rec Record, rev uint64) (uint64, error) {
	value, err := json.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("encoding status %s: %w", key, err)
	}
	var newRev uint64
	if rev == 0 {
		newRev, err = s.kv.Create(ctx, key, value)
	} else {
		newRev, err = s.kv.Update(ctx, key, value, rev)
	}
	if isConflict(err) {
		return 0, errConflict
	}
	if err != nil {
		return 0, fmt.Errorf("writing status %s: %w", key, err)
	}
	return newRev, nil
}

// isConflict recognises every way JetStream reports a lost compare-and-set:
// the KV sentinels, and the raw API codes 10071 and 10164 (the latter from
// replicated buckets).
func isConflict(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// streamAnnouncer is the Announcer on the event stream: it publishes
// through JetStream with the event id as Nats-Msg-Id and waits for the
// stream's acknowledgement, retrying a few failed attempts.
type streamAnnouncer struct {
	js      jetstream.JetStream
	mode    events.Mode
	retries int
	metrics *metrics
}

// Announce implements Announcer. It returns once JetStream has stored e
// (or already had it).
func (p *streamAnnouncer) Announce(ctx context.Context, subject string, e events.Event) error {
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
