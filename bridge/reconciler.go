package bridge

import (
	"context"
	"log/slog"
	"time"
)

// reconciler announces changes whose claimer died between the claim and
// the publish (docs/contract.md, "The reconciler"). It reads the outbox,
// which holds only claims not yet announced, never the bucket: a start
// costs the same whatever the bucket holds. A note this instance has seen
// for the grace period, whose claim the bucket still holds unpublished, is
// announced with its stored event id; any other note is crossed off. The
// grace period is measured on this instance's clock from when it first
// found the note, never from the note's own time, which is the NATS
// server's: clocks that differ cannot cut a claimer's grace short. Every
// instance runs one; racing reconcilers publish the same Nats-Msg-Id and
// JetStream keeps one copy.
type reconciler struct {
	claims   *claimer
	interval time.Duration
	grace    time.Duration
	log      *slog.Logger
	metrics  *metrics
	clock    Clock
	seen     map[uint64]time.Time // by ticket: when a round first found the note
}

// maxReconciledAtOnce bounds the notes one round looks at; more wait for
// the next round.
const maxReconciledAtOnce = 1000

// run looks at the outbox every interval until ctx ends.
func (r *reconciler) run(ctx context.Context) {
	for sleep(ctx, r.clock, r.interval) {
		r.round(ctx)
	}
}

// round deals with the notes old enough: their claimer may no longer be
// publishing them.
func (r *reconciler) round(ctx context.Context) {
	notes, err := r.claims.outbox.Pending(ctx, maxReconciledAtOnce)
	if err != nil {
		r.log.Warn("outbox not read; trying again next round", "error", err)
		return
	}
	now := r.clock.Now()
	seen := make(map[uint64]time.Time, len(notes))
	for _, n := range notes {
		first, ok := r.seen[n.Ticket]
		if !ok {
			first = now
		}
		seen[n.Ticket] = first
		if now.Sub(first) < r.grace {
			continue // its claimer may be publishing it right now
		}
		r.settle(ctx, n)
	}
	r.seen = seen // notes gone since are forgotten
}

// settle announces the claim of note n if the bucket still holds it
// unpublished, and crosses the note off otherwise (the claim was
// announced, replaced, or never made). A failure leaves the note for the
// next round (finish logs its own).
func (r *reconciler) settle(ctx context.Context, n OutboxEntry) {
	rec, rev, found, err := r.claims.store.Get(ctx, n.Key)
	switch {
	case err != nil:
		r.log.Warn("claim of an outbox note not read; trying again next round", "key", n.Key, "event_id", n.EventID, "error", err)
		return
	case !found || rec.Published || rec.EventID != n.EventID:
		r.claims.crossOff(ctx, n.Ticket)
		return
	}
	if _, err := r.claims.finish(ctx, n.Key, rec, rev, n.Ticket); err != nil {
		return
	}
	r.metrics.republished.Inc()
	r.log.Info("published an event left unpublished", "event_id", rec.EventID, "provider", rec.Provider, "payment_id", rec.PaymentID)
}
