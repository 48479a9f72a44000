package bridge

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// follower keeps the view current with the status bucket: it watches the
// bucket's updates from now on, never its history, so that a start costs
// the same whether the bucket holds a thousand payments or ten million.
// An update of a payment the view holds replaces its entry; an expired
// record is forgotten; a payment the view does not hold is left out (the
// view fills from checks).
type follower struct {
	kv       jetstream.KeyValue
	view     *view
	rechecks triggers
	retry    time.Duration // wait before watching again after a failure
	log      *slog.Logger
	seen     atomic.Uint64 // the revision the watch delivered last
}

// triggers store durable requests to check a payment at once (watcher.go).
type triggers interface {
	trigger(ctx context.Context, provider, paymentID, by string) error
}

var errWatchClosed = errors.New("status watch closed")

// run follows the bucket until ctx ends.
func (f *follower) run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := f.follow(ctx); err != nil && ctx.Err() == nil {
			f.log.Warn("status bucket watch failed; watching again", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(f.retry):
			}
		}
	}
}

func (f *follower) follow(ctx context.Context) error {
	w, err := f.kv.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		return err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case entry, ok := <-w.Updates():
			if !ok {
				return errWatchClosed
			}
			if entry == nil {
				continue
			}
			if err := f.note(ctx, entry); err != nil {
				f.log.Error("unreadable status record", "key", entry.Key(), "error", err)
			}
		}
	}
}

// note brings the view up to an entry the watch delivered. When a check
// compared its provider answer with an older record (view.follow), the
// payment is checked again, durably and off this loop, through a trigger:
// a fresh answer, rather than the old one, decides the change.
func (f *follower) note(ctx context.Context, entry jetstream.KeyValueEntry) error {
	defer f.seen.Store(entry.Revision())
	if op := entry.Operation(); op == jetstream.KeyValueDelete || op == jetstream.KeyValuePurge {
		f.view.forget(entry.Key()) // expired (or removed by an operator)
		return nil
	}
	rec, err := decodeEntry(entry)
	if err != nil {
		f.view.forget(entry.Key())
		return err
	}
	if f.view.follow(entry.Key(), rec, entry.Revision(), entry.Created()) {
		if err := f.rechecks.trigger(ctx, rec.Provider, rec.PaymentID, triggerRecheck); err != nil {
			f.log.Warn("a check compared with a replaced record is not asked again", "provider", rec.Provider,
				"payment_id", rec.PaymentID, "error", err)
		}
	}
	return nil
}
