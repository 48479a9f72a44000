package bridge

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// reconciler announces changes whose claiming instance died between the
// claim and the publish (docs/contract.md, "Claiming a change"). It follows
// the bucket with a KV watch, which also keeps the claimer's view current,
// remembers records left unpublished, and publishes those still
// unpublished after a grace period, with their stored event id.
// Every instance runs one; racing reconcilers publish the same Nats-Msg-Id
// and JetStream keeps one copy.
type reconciler struct {
	kv       jetstream.KeyValue
	claims   *claimer
	rechecks triggers
	interval time.Duration
	grace    time.Duration
	log      *slog.Logger
	metrics  *metrics
	seen     atomic.Uint64 // the revision the watch delivered last
}

// triggers store durable requests to check a payment at once (watcher.go).
type triggers interface {
	trigger(ctx context.Context, provider, paymentID, by string) error
}

// note brings the claimer's view up to an entry the watch delivered. When
// a check compared its provider answer with an older record (view.follow),
// the payment is checked again, durably and off this loop, through a
// trigger: a fresh answer, rather than the old one, decides the change.
func (r *reconciler) note(ctx context.Context, entry jetstream.KeyValueEntry) (Record, error) {
	defer r.seen.Store(entry.Revision())
	rec, err := decodeEntry(entry)
	if err != nil {
		return Record{}, err
	}
	if r.claims.view.follow(entry.Key(), rec, entry.Revision(), entry.Created()) {
		if err := r.rechecks.trigger(ctx, rec.Provider, rec.PaymentID, triggerRecheck); err != nil {
			r.log.Warn("a check compared with a replaced record is not asked again", "provider", rec.Provider,
				"payment_id", rec.PaymentID, "error", err)
		}
	}
	return rec, nil
}

var errWatchClosed = errors.New("status watch closed")

// run follows the bucket until ctx ends.
func (r *reconciler) run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := r.follow(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("reconciler watch failed; restarting", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(r.interval):
			}
		}
	}
}

// follow watches every key and publishes what stays unpublished.
func (r *reconciler) follow(ctx context.Context) error {
	w, err := r.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return err
	}
	defer w.Stop()
	pending := make(map[string]jetstream.KeyValueEntry)
	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case entry, ok := <-w.Updates():
			if !ok {
				return errWatchClosed
			}
			if entry == nil {
				continue // end of the initial values
			}
			rec, err := r.note(ctx, entry)
			if err != nil {
				r.log.Error("unreadable status record", "key", entry.Key(), "error", err)
				delete(pending, entry.Key())
				continue
			}
			if rec.Published {
				delete(pending, entry.Key())
			} else {
				pending[entry.Key()] = entry
			}
		case now := <-tick.C:
			for key, entry := range pending {
				if now.Sub(entry.Created()) < r.grace {
					continue // its claimer may be publishing it right now
				}
				if r.republish(ctx, key, entry) {
					delete(pending, key)
				}
			}
		}
	}
}

// republish announces the record of entry if KV still holds it unpublished
// at that revision, and reports whether the entry is dealt with; a failure
// (already logged) leaves it for the next round.
func (r *reconciler) republish(ctx context.Context, key string, entry jetstream.KeyValueEntry) bool {
	rec, rev, found, err := r.claims.store.Get(ctx, key)
	switch {
	case err != nil:
		return false
	case !found || rec.Published || rev != entry.Revision():
		return true // published or replaced since: the watch brings what is new
	}
	if _, err := r.claims.finish(ctx, key, rec, rev); err != nil {
		return false
	}
	r.metrics.republished.Inc()
	r.log.Info("published an event left unpublished", "event_id", rec.EventID, "provider", rec.Provider, "payment_id", rec.PaymentID)
	return true
}
