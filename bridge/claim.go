package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/events"
)

// This file is the heart of the bridge: how a provider's answer becomes a
// stored status and, when the status changed, exactly one event
// (docs/contract.md, "Claiming a change"). It knows the status bucket, the
// event stream and the outbox only through the three contracts below
// (Store, Announcer, Outbox), so the algorithm
// runs the same against JetStream (jetstream.go) and in memory (its unit
// tests).

// Store keeps the last status record of every payment and decides between
// racing writers: a write succeeds only against the revision it read.
type Store interface {
	// Get returns the record under key and its revision; found is false
	// when there is none.
	Get(ctx context.Context, key string) (rec Record, rev uint64, found bool, err error)
	// Put writes rec under key if the stored revision is still rev (0: the
	// key must have no record) and returns the new revision. A lost race
	// is errConflict; nothing is written then.
	Put(ctx context.Context, key string, rec Record, rev uint64) (uint64, error)
}

// Announcer publishes CloudEvents for the stream to keep. Announcing an
// event the stream already holds (the same id, within its duplicate
// window) stores nothing new: announcing is idempotent by event id, so a
// change may be announced again after a failure without a second copy.
type Announcer interface {
	Announce(ctx context.Context, subject string, e events.Event) error
}

// Outbox notes every claim until it is announced, so that a claim left
// unannounced (its claimer died between the claim and the publish) is
// found without reading the whole bucket. A claim is noted before it is
// made and crossed off once announced. A noted claim that never happened
// (the compare-and-set lost), or that someone else announced, is crossed
// off by whoever finds it so. Notes of different claims never replace
// one another, even of one payment: a note of the same claim (the same
// event id, from a racing instance) may replace the earlier one.
type Outbox interface {
	// Note notes the claim of eventID on key and returns its ticket.
	Note(ctx context.Context, key, eventID string) (ticket uint64, err error)
	// CrossOff removes the note with ticket; one already gone is no error.
	CrossOff(ctx context.Context, ticket uint64) error
	// Pending returns up to limit notes, oldest first.
	Pending(ctx context.Context, limit int) ([]OutboxEntry, error)
}

// OutboxEntry is one noted claim.
type OutboxEntry struct {
	Key     string
	EventID string
	Ticket  uint64
	NotedAt time.Time
}

// errConflict means the record changed between our read and our write.
var errConflict = errors.New("status record changed concurrently")

// maxClaimAttempts bounds the re-read loop when racing writers keep
// changing a record under us.
const maxClaimAttempts = 8

// Record is the stored last status of one payment, the KV value
// (schemas/status-record.json). Its embedded data is exactly the data of the
// event that announces it, so the event can be rebuilt from the record alone
// by whoever finds it unpublished.
type Record struct {
	events.StatusChanged
	// EventID is the id of the CloudEvent announcing this status; it is
	// derived, so every instance that claims the same change names it alike.
	EventID string `json:"event_id"`
	// Published is false from the claim until the event is acknowledged.
	Published bool `json:"published"`
	// WatchUntil is the deadline of the watch in force, if any, so that a
	// check can say whether the payment is watched without asking the
	// watch stream. A terminal status ends a watch before it.
	WatchUntil *time.Time `json:"watch_until,omitempty"`
}

// payment is the payment a record is of.
func (r Record) payment() Payment {
	return Payment{Provider: r.Provider, Account: r.Account, ID: r.PaymentID}
}

// claimer records provider answers as statuses: it reads the record in
// force, applies the transition guard, claims a change with a
// compare-and-set, announces it and marks it published. Any number of
// claimers on any number of instances may race for one payment; each
// change is stored once and announced by the one that claimed it.
type claimer struct {
	store       Store
	announcer   Announcer
	outbox      Outbox
	subject     string // the status event subject
	view        *view
	unannounced *unannounced
	// grace is how long a claim of another instance is left to its
	// claimer before anyone else announces it (Config.ReconcileGrace).
	grace   time.Duration
	log     *slog.Logger
	metrics *metrics
	clock   Clock

	// afterClaim, when set by tests, runs between the claim and the
	// publish; an error stops the check there, as a crash would.
	afterClaim func(Record) error
}

// observation is what one provider call led to; coalesced checks share it.
type observation struct {
	result paybridge.Result
	// stored is the record in force before the answer, when found.
	stored viewEntry
	found  bool
	// current is the record in force afterwards when the answer changed
	// it, or the stored one when the answer was a stale read.
	current   Record
	changed   bool
	stale     bool
	checkedAt time.Time
	// recheck: the answer was late against a change claimed while its
	// call ran, and neither is dated, so which is the provider's latest
	// is not known: the payment is to be asked again.
	recheck bool
}

// apply records res, the provider's answer at checkedAt, as the payment's
// status: read; same status or a stale one → nothing is written; otherwise
// claim the change with a compare-and-set (re-reading on conflict),
// announce it and mark it published. A change found claimed and not yet
// announced is announced first when it is to be replaced, so that no
// event is lost and events keep their order.
func (c *claimer) apply(ctx context.Context, pay Payment, res paybridge.Result, checkedAt time.Time) (observation, error) {
	return c.applySince(ctx, pay, pay.Key(), res, checkedAt, nil)
}

// snapshot is what a check knew of a payment's record: the record in force
// when its provider call began, against which the answer is weighed
// (late).
type snapshot struct {
	entry viewEntry
	found bool
}

// applySince is apply for an answer to a call that began when base was in
// force; nil: when the record read first was. An answer late against the
// record in force (late) is a stale read: it is not stored. key is pay's,
// which the caller has at hand.
func (c *claimer) applySince(ctx context.Context, pay Payment, key string, res paybridge.Result, checkedAt time.Time, base *snapshot) (observation, error) {
	var obs observation
	err := c.retryConflicts(func(fresh bool) (err error) {
		obs, err = c.claimOnce(ctx, pay, key, res, checkedAt, base, fresh)
		return err
	})
	return obs, err
}

// claimOnce is one attempt of applySince: read, judge, announce a claim
// in the way, claim the change and announce it. It returns errConflict
// when another writer changed the record between the read and the claim.
func (c *claimer) claimOnce(ctx context.Context, pay Payment, key string, res paybridge.Result, checkedAt time.Time, base *snapshot, fresh bool) (observation, error) {
	var e viewEntry
	var found bool
	var err error
	if !fresh && base != nil {
		// The view, kept current by the bucket's updates, says best
		// whether a change was claimed during the call; the compare-and-
		// set catches what it has not seen yet.
		if e, found = c.view.peek(key); !found {
			e, found = base.entry, base.found
		}
	} else if e, found, err = c.read(ctx, key, fresh); err != nil {
		return observation{}, err
	}
	if base == nil {
		base = &snapshot{entry: e, found: found}
	}
	v, recheck := c.weigh(found, e, res, base)
	if found && !e.published && (v == verdictChange || c.unannounced.mayBeOverdue(key)) {
		if e, found, err = c.announce(ctx, key, v == verdictChange); err != nil {
			return observation{}, err
		}
		v, recheck = c.weigh(found, e, res, base)
	}
	obs := observation{result: res, stored: e, found: found, checkedAt: checkedAt, recheck: recheck}
	switch v {
	case verdictUnknown:
		return obs, nil // never stored: we do not know what it means
	case verdictSame:
		c.view.confirm(key, e.kvRevision, checkedAt, res.Status)
		return obs, nil
	case verdictStale:
		// A settled payment cannot become unsettled, and a late answer
		// cannot replace a later one: the reply is the stored record. The
		// provider did not confirm it, so the view's time of the last
		// confirmation (what max_age is weighed against) stays.
		rec, _, _, err := c.store.Get(ctx, key)
		if err != nil {
			return observation{}, internalError(err)
		}
		obs.current, obs.stale = rec, true
		return obs, nil
	}
	var prev *paybridge.Status
	var watchUntil *time.Time
	if found {
		stored := e.status.Status()
		prev = &stored
		if e.watchUntil != 0 {
			until := time.Unix(0, e.watchUntil).UTC()
			watchUntil = &until
		}
	}
	next := newRecord(pay, res, prev, e.kvRevision, checkedAt)
	next.WatchUntil = watchUntil
	ticket, err := c.outbox.Note(ctx, key, next.EventID)
	if err != nil {
		return observation{}, internalError(err)
	}
	claimRev, err := c.store.Put(ctx, key, next, e.kvRevision)
	if errors.Is(err, errConflict) {
		c.dropNote(ctx, key, next.EventID, ticket)
		return observation{}, err
	}
	if err != nil {
		// The write may have been stored all the same (its answer was
		// lost): the note stays for the reconciler, and the next check of
		// the payment announces the claim without waiting.
		c.unannounced.givenUp(key, next.EventID)
		return observation{}, internalError(err)
	}
	next.Revision = claimRev
	c.view.put(key, next, claimRev)
	c.metrics.countChange(prev, next.Status)
	if c.afterClaim != nil {
		if err := c.afterClaim(next); err != nil {
			c.unannounced.givenUp(key, next.EventID)
			return observation{}, err
		}
	}
	// A failed publish is not the caller's failure: the change is stored
	// and the reconciler will announce it.
	c.finish(ctx, key, next, claimRev, ticket)
	obs.current, obs.changed = next, true
	return obs, nil
}

// errKeptChanging is a record that kept changing under every attempt to
// write it.
var errKeptChanging = paybridge.Errorf(paybridge.CodeInternal, "the status of this payment kept changing under %d attempts", maxClaimAttempts)

// retryConflicts is the compare-and-set loop every write of a record runs
// in: attempt reads the record (from the store when fresh) and writes it,
// and runs again after each write it lost to another writer (errConflict,
// counted), at most maxClaimAttempts times in all.
func (c *claimer) retryConflicts(attempt func(fresh bool) error) error {
	for i := range maxClaimAttempts {
		if err := attempt(i > 0); !errors.Is(err, errConflict) {
			return err
		}
		c.metrics.kvConflicts.Inc()
	}
	return errKeptChanging
}

// update rewrites key's record with mutate, starting from rec at rev when
// have is set, else from the store, and from the store again after each
// write lost. mutate reports false to leave the record as it is (as does
// a record no longer found). It returns the revision in force afterwards.
func (c *claimer) update(ctx context.Context, key string, rec Record, rev uint64, have bool, mutate func(*Record) bool) (uint64, error) {
	err := c.retryConflicts(func(fresh bool) error {
		if fresh || !have {
			var found bool
			var err error
			if rec, rev, found, err = c.store.Get(ctx, key); err != nil || !found {
				return err
			}
		}
		if !mutate(&rec) {
			c.view.put(key, rec, rev)
			return nil
		}
		newRev, err := c.store.Put(ctx, key, rec, rev)
		if err != nil {
			return err
		}
		rev = newRev
		c.view.put(key, rec, rev)
		return nil
	})
	return rev, err
}

// read returns what a check needs of key's record, from the view, or from
// the store when the view has none or fresh is set (after a lost
// compare-and-set).
func (c *claimer) read(ctx context.Context, key string, fresh bool) (viewEntry, bool, error) {
	if !fresh {
		if e, ok := c.view.get(key); ok {
			return e, true, nil
		}
	}
	rec, rev, found, err := c.store.Get(ctx, key)
	switch {
	case err != nil:
		return viewEntry{}, false, internalError(err)
	case !found:
		return viewEntry{}, false, nil
	}
	c.view.put(key, rec, rev)
	return entryOf(rec, rev), true, nil
}

// readRecord reads key's whole record from the store, for a reply from
// the store, and when the provider last confirmed it: a confirmation the
// view noted for that very revision, or the record's own observation.
func (c *claimer) readRecord(ctx context.Context, key string) (Record, time.Time, bool, error) {
	rec, rev, found, err := c.store.Get(ctx, key)
	if err != nil {
		return Record{}, time.Time{}, false, internalError(err)
	}
	if !found {
		return Record{}, time.Time{}, false, nil
	}
	c.view.put(key, rec, rev)
	if at, ok := c.view.confirmedAt(key, rev); ok {
		return rec, at, true, nil
	}
	return rec, entryOf(rec, rev).checkedAt(), true, nil
}

// announce makes sure the change claimed in key's record is out before the
// record is replaced: replacing it unannounced would lose its event. Only
// its claimer publishes while it may still be publishing (so that a core
// subscriber sees each change once). announce publishes the change itself
// when the claim is overdue: given up by this instance, or seen
// unannounced here for the grace period the reconciler also gives it.
// Otherwise, when the record is to be replaced, it waits for the claimer
// until then; when it is not, it leaves the claim alone. It returns the
// record in force afterwards. Only the store is trusted here: a lagging
// view would publish an announced change again.
func (c *claimer) announce(ctx context.Context, key string, replace bool) (viewEntry, bool, error) {
	pause := 5 * time.Millisecond
	for {
		rec, rev, found, err := c.store.Get(ctx, key)
		switch {
		case err != nil:
			return viewEntry{}, false, internalError(err)
		case !found || rec.Published:
			if found {
				c.view.put(key, rec, rev)
			}
			return entryOf(rec, rev), found, nil
		case c.overdue(key, rec):
			// Its note stays for the reconciler to cross off: only the
			// claimer holds its ticket.
			markRev, err := c.finish(ctx, key, rec, rev, 0)
			if err != nil {
				return viewEntry{}, false, internalError(err)
			}
			rec.Published = true
			return entryOf(rec, markRev), true, nil
		case !replace:
			return entryOf(rec, rev), true, nil
		}
		if !sleep(ctx, c.clock, pause) {
			// Not the provider's timeout: it answered; the claim it would
			// replace was not announced in the time the check had.
			return viewEntry{}, false, internalError(fmt.Errorf("waiting for the claim %s of another instance to be announced: %w", rec.EventID, ctx.Err()))
		}
		pause = min(2*pause, 200*time.Millisecond)
	}
}

// overdue reports whether nobody may still be publishing the unpublished
// claim rec: this instance gave up on it, or has seen it unpublished for
// the grace period.
func (c *claimer) overdue(key string, rec Record) bool {
	return c.unannounced.overdue(key, rec.EventID)
}

// finish publishes the event of a claimed record, marks it published and
// crosses off its note in the outbox (ticket 0: not known here). It
// returns the record's revision afterwards. A failed publish leaves the
// claim to the next check of the payment and to the reconciler.
func (c *claimer) finish(ctx context.Context, key string, rec Record, rev, ticket uint64) (uint64, error) {
	err := c.announcer.Announce(ctx, c.subject, events.NewStatusChanged(rec.EventID, rec.StatusChanged))
	if err != nil {
		c.unannounced.givenUp(key, rec.EventID)
		c.log.ErrorContext(ctx, "event not published; the reconciler will retry", "event_id", rec.EventID,
			"provider", rec.Provider, "payment_id", rec.PaymentID, "error", err)
		return rev, err
	}
	c.unannounced.announced(key, rec.EventID)
	markRev := c.markPublished(ctx, key, rec, rev)
	c.crossOff(ctx, ticket)
	return markRev, nil
}

// dropNote crosses off the note of a claim whose compare-and-set lost,
// unless the record holds that very claim unannounced: a racing instance
// made the same claim (the same event id) and its note may be the one
// ours replaced. Then the note stays, for that claimer or the reconciler.
func (c *claimer) dropNote(ctx context.Context, key, eventID string, ticket uint64) {
	rec, _, found, err := c.store.Get(ctx, key)
	if err != nil || found && !rec.Published && rec.EventID == eventID {
		return
	}
	c.crossOff(ctx, ticket)
}

// crossOff removes an outbox note; one left behind by a failure is crossed
// off later by the reconciler, which finds its claim announced.
func (c *claimer) crossOff(ctx context.Context, ticket uint64) {
	if ticket == 0 {
		return
	}
	if err := c.outbox.CrossOff(ctx, ticket); err != nil {
		c.log.Warn("outbox note not crossed off; the reconciler will", "ticket", ticket, "error", err)
	}
}

// markPublished notes in the record that its event is out. A record
// rewritten meanwhile with the same claim (a watch noted in it) is marked
// in its new form; a record replaced by a later change needs nothing, as
// whoever replaced it announced this one first.
func (c *claimer) markPublished(ctx context.Context, key string, rec Record, rev uint64) uint64 {
	eventID, marked := rec.EventID, false
	markRev, err := c.update(ctx, key, rec, rev, true, func(r *Record) bool {
		if marked = r.EventID == eventID && !r.Published; marked {
			r.Published = true
		}
		return marked
	})
	if err != nil {
		c.log.Warn("event published but not marked; it may be sent again with the same id",
			"event_id", eventID, "error", err)
	}
	if !marked {
		// Marked by another, or replaced: the caller's record is not the
		// one in force, and a write against rev will find that out.
		return rev
	}
	return markRev
}

// markWatched writes into the record until when a watch is in force, so
// that every check can say whether the payment is watched without asking
// the watch stream. A payment with no record yet has nothing to mark. An
// unpublished claim is rewritten as it is: its claimer marks the
// rewritten record published (markPublished).
func (c *claimer) markWatched(ctx context.Context, key string, until time.Time) error {
	if e, ok := c.view.get(key); ok && e.watchUntil == until.UnixNano() {
		return nil
	}
	_, err := c.update(ctx, key, Record{}, 0, false, func(r *Record) bool {
		if r.WatchUntil != nil && r.WatchUntil.Equal(until) {
			return false
		}
		r.WatchUntil = &until
		return true
	})
	return err
}

// unmarkWatched takes the watch that was to end at until out of the
// record, which it left early (the provider's permanent answers), so that
// replies stop saying the payment is watched. A watch begun since keeps
// its own deadline there.
func (c *claimer) unmarkWatched(ctx context.Context, key string, until time.Time) error {
	_, err := c.update(ctx, key, Record{}, 0, false, func(r *Record) bool {
		if r.WatchUntil == nil || !r.WatchUntil.Equal(until) {
			return false
		}
		r.WatchUntil = nil
		return true
	})
	return err
}

// verdict is what a provider's answer means for the stored status.
type verdict int

const (
	// verdictUnknown: words the mapping table does not know; nothing is
	// stored or published.
	verdictUnknown verdict = iota
	// verdictSame: the stored status holds; nothing is written.
	verdictSame
	// verdictStale: a settled payment reported unsettled again, a stale
	// read; the stored status stays.
	verdictStale
	// verdictChange: a new status to claim and announce.
	verdictChange
)

// judge applies the transition guard to a provider answer next, given the
// stored status (when found). Terminal to terminal (paid → refunded) is a
// real change.
func judge(found bool, stored, next paybridge.Status) verdict {
	switch {
	case next == paybridge.StatusUnknown:
		return verdictUnknown
	case !found:
		return verdictChange
	case stored == next:
		return verdictSame
	case stored.Terminal() && !next.Terminal():
		return verdictStale
	}
	return verdictChange
}

// weigh is judge for an answer to a call that began when base was in
// force, with e in force now: a change the guard allows is still a stale
// read when it is late (late), and recheck says whether asking again
// would tell which answer is the provider's latest.
func (c *claimer) weigh(found bool, e viewEntry, res paybridge.Result, base *snapshot) (v verdict, recheck bool) {
	v = judge(found, e.status.Status(), res.Status)
	if v != verdictChange {
		return v, false
	}
	if isLate, undated := late(res, e, found, base); isLate {
		return verdictStale, undated
	}
	return v, false
}

// late reports whether res must not replace the record e in force: the
// provider dated it before e's status, or, when the two dates do not
// decide, a change was claimed (e is not the claim base held) after the
// call that brought res began, so res may be the older answer. undated
// says the dates did not decide. Claims are compared by their revision,
// not by a clock, so instances whose clocks differ judge alike.
func late(res paybridge.Result, e viewEntry, found bool, base *snapshot) (isLate, undated bool) {
	if !found {
		return false, false
	}
	if at := res.UpdatedAt.UnixNano(); e.providerUpdatedAt != 0 && !res.UpdatedAt.IsZero() && at != e.providerUpdatedAt {
		return at < e.providerUpdatedAt, false
	}
	if !base.found || base.entry.claimRevision != e.claimRevision {
		return true, true
	}
	return false, false
}

// newRecord builds the record claiming that the payment moved to res.Status
// after the record read at readRev.
func newRecord(pay Payment, res paybridge.Result, prev *paybridge.Status, readRev uint64, at time.Time) Record {
	return Record{
		StatusChanged: statusData(pay, res, prev, at),
		EventID:       pay.EventID(readRev, res.Status),
	}
}

// statusData describes what the provider said at at, after prev.
func statusData(pay Payment, res paybridge.Result, prev *paybridge.Status, at time.Time) events.StatusChanged {
	var updated *time.Time
	if !res.UpdatedAt.IsZero() {
		u := res.UpdatedAt.UTC()
		updated = &u
	}
	return events.StatusChanged{
		Provider:             pay.Provider,
		Account:              pay.Account,
		PaymentID:            pay.ID,
		Status:               res.Status,
		PreviousStatus:       prev,
		Terminal:             res.Status.Terminal(),
		ProviderStatus:       res.ProviderStatus,
		ProviderStatusDetail: res.ProviderStatusDetail,
		Amount:               res.Amount,
		Currency:             res.Currency,
		AmountPaid:           res.AmountPaid,
		CryptoAmount:         res.CryptoAmount,
		CryptoCurrency:       res.CryptoCurrency,
		ProviderUpdatedAt:    updated,
		ObservedAt:           at,
	}
}
