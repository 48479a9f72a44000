package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// follower keeps the view current with the status bucket: it follows the
// bucket's updates from the moment it starts, never its history, so that
// a start costs the same whether the bucket holds a thousand payments or
// ten million. An update of a payment the view holds replaces its entry;
// an expired record is forgotten; a payment the view does not hold is left
// out (the view fills from checks).
//
// It reads the bucket's stream with an ordered consumer that starts at the
// stream's next sequence and resumes after the last update it delivered,
// rather than with a KV watch: a KV watch that has delivered nothing yet
// restarts from the first sequence when its consumer is recreated (a NATS
// restart, say), replaying every stored record.
type follower struct {
	js       jetstream.JetStream
	stream   string // the bucket's stream, KV_<bucket>
	prefix   string // the bucket's subject prefix, $KV.<bucket>.
	view     *view
	rechecks triggers
	retry    time.Duration // wait before following again after a failure
	log      *slog.Logger
	clock    Clock
	seen     atomic.Uint64 // the revision delivered last
	from     uint64        // the sequence following starts at, set by run
}

// triggers store durable requests to check a payment at once (watcher.go).
type triggers interface {
	trigger(ctx context.Context, p Payment, by string) error
}

var errFollowStopped = errors.New("status bucket updates stopped")

// run follows the bucket until ctx ends.
func (f *follower) run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := f.follow(ctx); err != nil && ctx.Err() == nil {
			f.log.Warn("status bucket not followed; following again", "error", err)
			sleep(ctx, f.clock, f.retry)
		}
	}
}

// follow delivers the bucket's updates from where it stopped (at first,
// from the stream's next sequence) until ctx ends or the consumer fails.
func (f *follower) follow(ctx context.Context) error {
	start := f.seen.Load() + 1
	if f.seen.Load() == 0 {
		if f.from == 0 {
			s, err := f.js.Stream(ctx, f.stream)
			if err != nil {
				return fmt.Errorf("reading stream %s: %w", f.stream, err)
			}
			f.from = s.CachedInfo().State.LastSeq + 1
		}
		start = f.from
	}
	cons, err := f.js.OrderedConsumer(ctx, f.stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{f.prefix + ">"},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    start,
	})
	if err != nil {
		return err
	}
	msgs, err := cons.Messages()
	if err != nil {
		return err
	}
	stopped := context.AfterFunc(ctx, msgs.Stop)
	defer stopped()
	for {
		msg, err := msgs.Next()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, jetstream.ErrMsgIteratorClosed):
			return errFollowStopped
		case err != nil:
			return err
		}
		meta, err := msg.Metadata()
		if err != nil {
			continue
		}
		u := bucketUpdate{key: strings.TrimPrefix(msg.Subject(), f.prefix), value: msg.Data(),
			revision: meta.Sequence.Stream, created: meta.Timestamp, removed: removal(msg.Headers())}
		if err := f.note(ctx, u); err != nil {
			f.log.Error("unreadable status record", "key", u.key, "error", err)
		}
	}
}

// bucketUpdate is one write to the status bucket as the follower reads it.
type bucketUpdate struct {
	key      string
	value    []byte
	revision uint64
	created  time.Time
	removed  bool // a delete, a purge, or the marker of an expired record
}

// removal reports whether a KV message's headers make it a removal: the
// KV-Operation of a delete or a purge, or the reason of a marker the
// server left for an expired record.
func removal(h map[string][]string) bool {
	first := func(name string) string {
		if v := h[name]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	return first("KV-Operation") != "" || first(jetstream.MarkerReasonHeader) != ""
}

// note brings the view up to an update. When a check compared its
// provider answer with an older record (view.follow), the payment is
// checked again, durably and off this loop, through a trigger: a fresh
// answer, rather than the old one, decides the change.
func (f *follower) note(ctx context.Context, u bucketUpdate) error {
	defer f.seen.Store(u.revision)
	if u.removed {
		f.view.forget(u.key) // expired (or removed by an operator)
		return nil
	}
	rec, err := decodeRecord(u.key, u.value, u.revision)
	if err != nil {
		f.view.forget(u.key)
		return err
	}
	if f.view.follow(u.key, rec, u.revision, u.created) {
		if err := f.rechecks.trigger(ctx, rec.payment(), triggerRecheck); err != nil {
			f.log.Warn("a check compared with a replaced record is not asked again", "provider", rec.Provider,
				"account", rec.Account, "payment_id", rec.PaymentID, "error", err)
		}
	}
	return nil
}
