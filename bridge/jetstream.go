package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/paybridge/paybridge/events"
)

// This file holds the JetStream side of the claim (claim.go): the status
// bucket as the Store, the event stream as the Announcer, a small stream
// as the Outbox.

// kvStore is the Store on a JetStream KV bucket: every write is a
// compare-and-set against the revision read, so the bucket decides which
// of several racing instances claims a change. Each write carries the
// record's time to live when the bucket takes them.
type kvStore struct {
	kv        jetstream.KeyValue
	js        jetstream.JetStream
	subject   string        // the bucket's KV subject prefix, $KV.<bucket>.
	retention time.Duration // 0: the bucket takes no TTLs
	tracing   tracing
}

// watchTTLMargin keeps a watched record past its watch's deadline, so
// that the watch's last poll and its expiry still find it.
const watchTTLMargin = time.Hour

// ttl is how long rec lives after this write: the retention, or, for a
// payment watched longer than that, until its watch ends.
func (s *kvStore) ttl(rec Record) time.Duration {
	ttl := s.retention
	if rec.WatchUntil != nil && !rec.Terminal {
		ttl = max(ttl, time.Until(*rec.WatchUntil)+watchTTLMargin)
	}
	return ttl
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
	rec, err = decodeRecord(key, entry.Value(), entry.Revision())
	return rec, entry.Revision(), err == nil, err
}

// decodeRecord reads the value of key, stored at KV revision rev, into a
// Record.
func decodeRecord(key string, value []byte, rev uint64) (Record, error) {
	var rec Record
	if err := json.Unmarshal(value, &rec); err != nil {
		return Record{}, fmt.Errorf("decoding status %s: %w", key, err)
	}
	if rec.Revision == 0 {
		rec.Revision = rev
	}
	return rec, nil
}

// Put implements Store: kv.Create for a new record, else a publish on the
// key's subject expecting rev as its last sequence, as kv.Update does, but
// with the record's TTL, which kv.Update cannot carry.
func (s *kvStore) Put(ctx context.Context, key string, rec Record, rev uint64) (newRev uint64, err error) {
	ctx, span := s.tracing.start(ctx, "paybridge.kv.compare_and_set", trace.SpanKindClient)
	defer func() {
		conflict := errors.Is(err, errConflict)
		if s.tracing.on {
			span.SetAttributes(attrExpectedRevision.Int64(int64(rev)), attrConflict.Bool(conflict))
		}
		if conflict {
			span.End() // a lost race is the algorithm at work, not a failure
			return
		}
		endSpan(span, err)
	}()
	value, err := json.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("encoding status %s: %w", key, err)
	}
	switch {
	case rev == 0 && s.retention > 0:
		newRev, err = s.kv.Create(ctx, key, value, jetstream.KeyTTL(s.ttl(rec)))
	case rev == 0:
		newRev, err = s.kv.Create(ctx, key, value)
	case s.retention > 0:
		var ack *jetstream.PubAck
		ack, err = s.js.PublishMsg(ctx, &nats.Msg{Subject: s.subject + key, Data: value},
			jetstream.WithExpectLastSequencePerSubject(rev), jetstream.WithMsgTTL(s.ttl(rec)))
		if err == nil {
			newRev = ack.Sequence
		}
	default:
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
	tracing tracing
}

// Announce implements Announcer. It returns once JetStream has stored e
// (or already had it). The event carries the trace context of its publish,
// so that a subscriber can continue the check's trace.
func (p *streamAnnouncer) Announce(ctx context.Context, subject string, e events.Event) (err error) {
	ctx, span := p.tracing.start(ctx, "paybridge.publish", trace.SpanKindProducer)
	if p.tracing.on {
		span.SetAttributes(attrEventType.String(e.Type))
	}
	defer func() { endSpan(span, err) }()
	e.TraceParent, e.TraceState = p.tracing.traceContext(ctx)
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

// streamOutbox is the Outbox on a small JetStream stream: one message per
// noted claim, on <subject>.<key>.<event id>, so that a note of one claim
// never replaces another's (a racing instance noting the same claim
// replaces the note with its twin). Crossing off deletes the message, so
// the stream holds only claims not yet announced.
type streamOutbox struct {
	js      jetstream.JetStream
	stream  jetstream.Stream
	subject string
}

// outboxNote is the body of a note.
type outboxNote struct {
	EventID string `json:"event_id"`
}

// Note implements Outbox; the ticket is the note's stream sequence.
func (o *streamOutbox) Note(ctx context.Context, key, eventID string) (uint64, error) {
	data, err := json.Marshal(outboxNote{EventID: eventID})
	if err != nil {
		return 0, err
	}
	ack, err := o.js.Publish(ctx, o.subject+"."+key+"."+eventID, data)
	if err != nil {
		return 0, fmt.Errorf("noting claim %s in the outbox: %w", eventID, err)
	}
	return ack.Sequence, nil
}

// CrossOff implements Outbox.
func (o *streamOutbox) CrossOff(ctx context.Context, ticket uint64) error {
	err := o.stream.DeleteMsg(ctx, ticket)
	if errors.Is(err, jetstream.ErrMsgNotFound) || errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) {
		return nil // crossed off already, or replaced by a later note
	}
	return err
}

// Pending implements Outbox by reading the notes the stream holds, each
// the next one after the last (the server skips the crossed-off ones):
// only notes not crossed off, none unless claimers are dying, so a round
// usually costs one stream info.
func (o *streamOutbox) Pending(ctx context.Context, limit int) ([]OutboxEntry, error) {
	info, err := o.stream.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []OutboxEntry
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && len(out) < limit; {
		msg, err := o.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(o.subject+".>"))
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			return out, nil // no note at or after seq
		case err != nil:
			return out, fmt.Errorf("reading the outbox from %d: %w", seq, err)
		}
		seq = msg.Sequence + 1
		var note outboxNote
		if json.Unmarshal(msg.Data, &note) != nil || note.EventID == "" {
			note.EventID = "" // an unreadable note: crossed off as stale
		}
		// Notes written before the event id joined the subject end in the key.
		key := strings.TrimSuffix(strings.TrimPrefix(msg.Subject, o.subject+"."), "."+note.EventID)
		out = append(out, OutboxEntry{Key: key, EventID: note.EventID, Ticket: msg.Sequence, NotedAt: msg.Time})
	}
	return out, nil
}
