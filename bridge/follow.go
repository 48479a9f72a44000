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
// It reads the bucket's stream with a consumer of its own (in memory, no
// acks) that starts at the stream's next sequence, and is made again after
// the last update it delivered when it fails (a NATS restart, say) or
// skips a message, rather than with a KV watch: a KV watch that has
// delivered nothing yet restarts from the first sequence when its consumer
// is recreated, replaying every stored record. It fetches (fetch.go), as
// an ordered consumer would not: nats.go's ordered consumer reads with the
// iterator that stalled the intake, and makes a new consumer per Fetch.
type follower struct {
	js       jetstream.JetStream
	stream   string // the bucket's stream, KV_<bucket>
	prefix   string // the bucket's subject prefix, $KV.<bucket>.
	view     *view
	rechecks triggers
	log      *slog.Logger
	clock    Clock
	seen     atomic.Uint64 // the revision delivered last
	from     uint64        // the sequence following starts at, set by run
}

// triggers store durable requests to check a payment at once (watcher.go).
type triggers interface {
	trigger(ctx context.Context, p Payment, by string) error
}

// errFollowGap is why the follower starts again: its consumer skipped a
// message.
var errFollowGap = errors.New("status bucket updates skipped one")

const (
	// followBatch is the most updates one pull asks for.
	followBatch = 256
	// followRetry is the wait before following again after a failure,
	// fetchEach's: short, because the view misses every update until the
	// follower follows again, and a NATS restart always fails it (its
	// consumer is in memory).
	followRetry = time.Second
	// followInactive is how long the server keeps the follower's consumer
	// once nothing asks for its messages (a bridge gone without deleting
	// it): several fetchWaits.
	followInactive = 30 * time.Second
)

// run follows the bucket until ctx ends.
func (f *follower) run(ctx context.Context) {
	for ctx.Err() == nil {
		err := f.follow(ctx)
		switch {
		case err == nil || ctx.Err() != nil:
		case errors.Is(err, errFollowGap):
			f.log.Debug("status bucket followed again", "error", err)
		default:
			f.log.Warn("status bucket not followed; following again", "error", err)
			sleep(ctx, f.clock, followRetry)
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
	cons, err := f.js.CreateConsumer(ctx, f.stream, jetstream.ConsumerConfig{
		FilterSubject:     f.prefix + ">",
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: followInactive,
	})
	if err != nil {
		return fmt.Errorf("following %s: %w", f.stream, err)
	}
	defer func() {
		// Deleting it spares the server followInactive; it goes either way.
		deleteCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = f.js.DeleteConsumer(deleteCtx, f.stream, cons.CachedInfo().Name)
		cancel()
	}()
	var delivered uint64 // the consumer sequence of the last update
	err = fetchUntil(ctx, cons, followBatch, func(msg jetstream.Msg, _ time.Time) error {
		meta, err := msg.Metadata()
		if err != nil {
			return nil
		}
		if meta.Sequence.Consumer != delivered+1 {
			return errFollowGap
		}
		delivered = meta.Sequence.Consumer
		u := bucketUpdate{key: strings.TrimPrefix(msg.Subject(), f.prefix), value: msg.Data(),
			revision: meta.Sequence.Stream, created: meta.Timestamp, removed: removal(msg.Headers())}
		if err := f.note(ctx, u); err != nil {
			f.log.Error("unreadable status record", "key", u.key, "error", err)
		}
		return nil
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
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
