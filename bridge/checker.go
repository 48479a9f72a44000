package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/events"
)

// maxClaimAttempts bounds the re-read loop when racing writers keep
// changing a record under us.
const maxClaimAttempts = 8

// checker runs the path of one check: provider → normalized status →
// transition guard → compare-and-set in the store → event → reply
// (SPEC section 7). Concurrent checks of one payment share one provider
// call and one store update.
type checker struct {
	providers    map[string]paybridge.Provider
	store        *statusStore
	publisher    *publisher
	eventSubject string
	callTimeout  time.Duration
	budgets      budgets
	breakers     map[string]*breaker
	watcher      *watcher
	group        singleflight.Group
	finished     *finishedCalls
	view         *view
	// claimGrace is how long a claim of another instance is left to its
	// claimer before anyone else announces it (ReconcileGrace).
	claimGrace time.Duration
	abandoned  *abandonedClaims
	log        *slog.Logger
	metrics    *metrics
	now        func() time.Time

	// afterClaim, when set by tests, runs between the claim and the
	// publish; an error stops the check there, as a crash would.
	afterClaim func(Record) error
}

// observation is what one provider call led to; coalesced checks share it.
type observation struct {
	result    paybridge.Result
	current   Record // the record in force afterwards; valid when found
	found     bool
	changed   bool
	stale     bool
	checkedAt time.Time
}

// Check answers one check request.
func (c *checker) Check(ctx context.Context, req CheckRequest) (paybridge.Reply, error) {
	return c.check(ctx, req, false)
}

// check answers a check. A patient check (a watch or a webhook trigger)
// waits as long as it takes for the provider's budget; one with a caller
// waiting on the reply gives up after checkBudgetWait.
func (c *checker) check(ctx context.Context, req CheckRequest, patient bool) (rep paybridge.Reply, err error) {
	defer func() { c.metrics.countCheck(req.Provider, rep, err) }()
	p, ok := c.providers[req.Provider]
	if !ok {
		return paybridge.Reply{}, unknownProvider(req.Provider)
	}
	key := Key(req.Provider, req.PaymentID)
	if req.MaxAge > 0 {
		e, found, err := c.read(ctx, key, false)
		if err != nil {
			return paybridge.Reply{}, err
		}
		if found && c.now().Sub(e.checkedAt()) <= req.MaxAge {
			rep = replyUnchanged(e.rec, paybridge.SourceStore, e.checkedAt())
			rep.RequestID = req.RequestID
			return c.withWatch(ctx, key, rep, req.Watch)
		}
	}
	received := req.received
	if received.IsZero() {
		received = time.Now() // work the bridge started itself
	}
	obs, err := c.observe(ctx, p, key, req.PaymentID, received, patient)
	if err != nil {
		if req.Watch {
			// Provider errors re-schedule a watch (SPEC section 6): it is
			// stored all the same, and its first poll retries the check.
			if _, werr := c.watcher.start(ctx, req.Provider, req.PaymentID); werr != nil {
				c.log.Warn("watch not stored after a failed check", "provider", req.Provider,
					"payment_id", req.PaymentID, "error", werr)
			}
		}
		return paybridge.Reply{}, err
	}
	rep = obs.reply(req.Provider, req.PaymentID)
	rep.RequestID = req.RequestID
	return c.withWatch(ctx, key, rep, req.Watch)
}

// unknownProvider refuses a request naming a provider this bridge has no
// credentials for.
func unknownProvider(name string) error {
	return paybridge.Errorf(paybridge.CodeUnknownProvider, "provider %s is not configured", quoted(name))
}

// Lookup answers a payments.status.get request from the store alone.
func (c *checker) Lookup(ctx context.Context, req StatusRequest) (paybridge.Reply, error) {
	if _, ok := c.providers[req.Provider]; !ok {
		return paybridge.Reply{}, unknownProvider(req.Provider)
	}
	key := Key(req.Provider, req.PaymentID)
	e, found, err := c.read(ctx, key, false)
	if err != nil {
		return paybridge.Reply{}, err
	}
	if !found {
		return paybridge.Reply{}, paybridge.Errorf(paybridge.CodePaymentNotFound, "no status stored for this payment")
	}
	return c.withWatch(ctx, key, replyUnchanged(e.rec, paybridge.SourceStore, e.checkedAt()), false)
}

// read returns the record of key from the view, or from KV when the view
// has none or fresh is set (after a lost compare-and-set).
func (c *checker) read(ctx context.Context, key string, fresh bool) (viewEntry, bool, error) {
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
	e, _ := c.view.get(key)
	if e.rev != rev { // evicted at once, or a later revision arrived
		e = viewEntry{rec: rec, rev: rev}
	}
	return e, true, nil
}

// announce makes sure the change claimed in key's record is out before the
// record is replaced: replacing it unannounced would lose its event. Only
// its claimer publishes while it may still be publishing (so that a core
// subscriber sees each change once); the check waits for that, and
// publishes the change itself once the claim is overdue: abandoned by this
// instance, or older than the grace period the reconciler also gives it.
// Only KV is trusted here: a lagging view would publish an announced change
// again.
func (c *checker) announce(ctx context.Context, key string) error {
	waitingSince := time.Now()
	pause := 5 * time.Millisecond
	for {
		e, found, err := c.read(ctx, key, true)
		if err != nil || !found || e.rec.Published {
			return err
		}
		if c.overdue(key, e.rec) || time.Since(waitingSince) >= c.claimGrace {
			if _, err := c.finish(ctx, key, e.rec, e.rev); err != nil {
				return internalError(err)
			}
			return nil
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, 200*time.Millisecond)
	}
}

// overdue reports whether nobody may still be publishing the unpublished
// claim rec: this instance gave up on it, or its grace period is over.
func (c *checker) overdue(key string, rec Record) bool {
	return c.abandoned.has(key, rec.EventID) || c.now().Sub(rec.ObservedAt) >= c.claimGrace
}

// withWatch starts a watch when one is asked for and the payment is not
// settled, and says in the reply whether one is in force.
func (c *checker) withWatch(ctx context.Context, key string, rep paybridge.Reply, start bool) (paybridge.Reply, error) {
	if rep.Terminal {
		return rep, nil // nothing left to watch for
	}
	if start {
		until, err := c.watcher.start(ctx, rep.Provider, rep.PaymentID)
		if err == nil && until.After(c.now()) {
			err = c.markWatched(ctx, key, until)
		}
		if err != nil {
			return paybridge.Reply{}, internalError(fmt.Errorf("starting watch: %w", err))
		}
		// A watch ending right now (its order past the deadline) is not
		// in force; asking again after it ends starts a new one.
		rep.Watching = until.After(c.now())
		return rep, nil
	}
	e, found, err := c.read(ctx, key, false)
	if err != nil {
		return paybridge.Reply{}, err
	}
	rep.Watching = found && e.rec.WatchUntil != nil && e.rec.WatchUntil.After(c.now())
	return rep, nil
}

// markWatched writes into the record until when a watch is in force, so
// that every check can say whether the payment is watched without asking
// the watch stream. A payment with no record yet has nothing to mark.
func (c *checker) markWatched(ctx context.Context, key string, until time.Time) error {
	for attempt := range maxClaimAttempts {
		// An unpublished claim is rewritten as it is: its claimer marks
		// the rewritten record published (markPublished).
		e, found, err := c.read(ctx, key, attempt > 0)
		if err != nil || !found {
			return err
		}
		if e.rec.WatchUntil != nil && e.rec.WatchUntil.Equal(until) {
			return nil
		}
		e.rec.WatchUntil = &until
		rev, err := c.store.Put(ctx, key, e.rec, e.rev)
		if errors.Is(err, errConflict) {
			c.metrics.kvConflicts.Inc()
			continue
		}
		if err != nil {
			return err
		}
		c.view.put(key, e.rec, rev)
		return nil
	}
	return fmt.Errorf("status of this payment kept changing under %d attempts", maxClaimAttempts)
}

// observe asks the provider once for all concurrent checks of key: those
// that reach the call in flight, and those that arrived before it finished
// (finishedCalls). A patient caller takes its budget before joining; the
// call itself runs on its own deadline so that one caller giving up does
// not abandon a change half-way for the others.
func (c *checker) observe(ctx context.Context, p paybridge.Provider, key, paymentID string, received time.Time, patient bool) (observation, error) {
	if obs, ok := c.finished.since(key, received); ok {
		return obs, nil
	}
	// An open circuit refuses before any budget is spent on the call.
	if err := c.breakers[p.Name()].refusing(p.Name(), time.Now()); err != nil {
		return observation{}, err
	}
	if patient {
		// Outside the shared call, so that a check joining it never waits
		// on a watch's patience.
		if err := c.budgets.wait(ctx, p.Name(), true); err != nil {
			return observation{}, err
		}
		if obs, ok := c.finished.since(key, received); ok {
			return obs, nil // answered while we waited
		}
	}
	v, err, _ := c.group.Do(key, func() (any, error) {
		if !patient {
			if err := c.budgets.wait(ctx, p.Name(), false); err != nil {
				return observation{}, err
			}
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.callTimeout)
		defer cancel()
		obs, err := c.checkProvider(ctx, p, key, paymentID)
		if err == nil {
			c.finished.put(key, obs, time.Now())
		}
		return obs, err
	})
	if err != nil {
		return observation{}, err
	}
	return v.(observation), nil
}

func (c *checker) checkProvider(ctx context.Context, p paybridge.Provider, key, paymentID string) (observation, error) {
	circuit := c.breakers[p.Name()]
	start := time.Now()
	probe, err := circuit.allow(p.Name(), start)
	if err != nil {
		return observation{}, err
	}
	res, err := p.Check(ctx, paymentID)
	end := time.Now()
	c.metrics.countProviderCall(p.Name(), err, end.Sub(start))
	c.metrics.circuitOpen.WithLabelValues(p.Name()).Set(boolGauge(circuit.record(probe, err, end)))
	if err != nil {
		return observation{}, err
	}
	if res.Status == paybridge.StatusUnknown {
		c.log.Warn("provider status not in the mapping table", "provider", p.Name(), "payment_id", paymentID,
			"provider_status", res.ProviderStatus, "provider_status_detail", res.ProviderStatusDetail)
	}
	return c.apply(ctx, p.Name(), paymentID, key, res, c.now())
}

// apply records res as the payment's status, as SPEC section 7 lays out:
// read; same status → nothing; claim the change with a compare-and-set
// (re-reading on conflict); publish; mark published.
func (c *checker) apply(ctx context.Context, provider, paymentID, key string, res paybridge.Result, checkedAt time.Time) (observation, error) {
	for attempt := range maxClaimAttempts {
		e, found, err := c.read(ctx, key, attempt > 0)
		if err != nil {
			return observation{}, err
		}
		cur := e.rec
		obs := observation{result: res, current: cur, found: found, checkedAt: checkedAt}
		v := judge(found, cur.Status, res.Status)
		if found && !cur.Published && (v == verdictChange || c.overdue(key, cur)) {
			if err := c.announce(ctx, key); err != nil {
				return observation{}, err
			}
			continue // the record is announced now: read it again
		}
		switch v {
		case verdictUnknown:
			return obs, nil // never stored: we do not know what it means
		case verdictSame:
			c.view.confirm(key, e.rev, checkedAt, res.Status)
			return obs, nil
		case verdictStale:
			obs.stale = true // a settled payment cannot become unsettled
			c.view.confirm(key, e.rev, checkedAt, res.Status)
			return obs, nil
		}
		var prev *paybridge.Status
		if found {
			prev = &cur.Status
		}
		next := newRecord(provider, paymentID, res, prev, e.rev, checkedAt)
		next.WatchUntil = cur.WatchUntil
		claimRev, err := c.store.Put(ctx, key, next, e.rev)
		if errors.Is(err, errConflict) {
			c.metrics.kvConflicts.Inc()
			continue
		}
		if err != nil {
			return observation{}, internalError(err)
		}
		next.Revision = claimRev
		c.view.put(key, next, claimRev)
		c.metrics.countChange(prev, next.Status)
		if c.afterClaim != nil {
			if err := c.afterClaim(next); err != nil {
				c.abandoned.add(key, next.EventID)
				return observation{}, err
			}
		}
		// A failed publish is not the caller's failure: the change is
		// stored and the reconciler will announce it.
		c.finish(ctx, key, next, claimRev)
		obs.current, obs.found, obs.changed = next, true, true
		return obs, nil
	}
	return observation{}, paybridge.Errorf(paybridge.CodeInternal, "status of this payment kept changing under %d attempts", maxClaimAttempts)
}

// finish publishes the event of a claimed record and marks it published.
// It returns the record's revision afterwards. A failed publish leaves the
// claim to the next check of the payment and to the reconciler.
func (c *checker) finish(ctx context.Context, key string, rec Record, rev uint64) (uint64, error) {
	err := c.publisher.Publish(ctx, c.eventSubject, events.NewStatusChanged(rec.EventID, rec.StatusChanged))
	if err != nil {
		c.abandoned.add(key, rec.EventID)
		c.log.Error("event not published; the reconciler will retry", "event_id", rec.EventID,
			"provider", rec.Provider, "payment_id", rec.PaymentID, "error", err)
		return rev, err
	}
	c.abandoned.remove(key, rec.EventID)
	return c.markPublished(ctx, key, rec, rev), nil
}

// markPublished notes in the record that its event is out. A record
// rewritten meanwhile with the same claim (a watch noted in it) is marked
// in its new form; a record replaced by a later change needs nothing, as
// whoever replaced it announced this one first.
func (c *checker) markPublished(ctx context.Context, key string, rec Record, rev uint64) uint64 {
	for range maxClaimAttempts {
		rec.Published = true
		markRev, err := c.store.Put(ctx, key, rec, rev)
		switch {
		case err == nil:
			c.view.put(key, rec, markRev)
			return markRev
		case !errors.Is(err, errConflict):
			c.log.Warn("event published but not marked; it may be sent again with the same id",
				"event_id", rec.EventID, "error", err)
			return rev
		}
		stored, storedRev, found, err := c.store.Get(ctx, key)
		if err != nil || !found || stored.EventID != rec.EventID || stored.Published {
			return rev
		}
		rec, rev = stored, storedRev
	}
	return rev
}

// newRecord builds the record claiming that the payment moved to res.Status
// after the record read at readRev.
func newRecord(provider, paymentID string, res paybridge.Result, prev *paybridge.Status, readRev uint64, at time.Time) Record {
	return Record{
		StatusChanged: statusData(provider, paymentID, res, prev, at),
		EventID:       EventID(provider, paymentID, readRev, res.Status),
	}
}

// statusData describes what the provider said at at, after prev.
func statusData(provider, paymentID string, res paybridge.Result, prev *paybridge.Status, at time.Time) events.StatusChanged {
	var updated *time.Time
	if !res.UpdatedAt.IsZero() {
		u := res.UpdatedAt.UTC()
		updated = &u
	}
	return events.StatusChanged{
		Provider:             provider,
		PaymentID:            paymentID,
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

// reply describes the observation to one of the checks that shared it.
func (o observation) reply(provider, paymentID string) paybridge.Reply {
	switch {
	case o.changed:
		rep := replyFromRecord(o.current, paybridge.SourceProvider, o.checkedAt)
		rep.Changed = true
		return rep
	case o.stale:
		rep := replyUnchanged(o.current, paybridge.SourceProvider, o.checkedAt)
		rep.Stale = true
		return rep
	}
	// Unchanged or unknown: the provider's fresh words, the stored revision.
	rep := replyFromRecord(Record{StatusChanged: statusData(provider, paymentID, o.result, nil, o.checkedAt)}, paybridge.SourceProvider, o.checkedAt)
	if o.found {
		rep.PreviousStatus = &o.current.Status
		rep.Revision = o.current.Revision
	}
	return rep
}

// internalError hides a library error's words from the caller; the caller
// logs the original.
func internalError(err error) error {
	var pe *paybridge.Error
	if errors.As(err, &pe) {
		return err
	}
	return &internal{err}
}

// internal is a NATS failure or a bug: code internal and a generic message
// for the caller, the cause kept for logs. It does not unwrap, so a KV
// timeout is not mistaken for a provider timeout.
type internal struct{ cause error }

func (e *internal) Error() string { return "internal: " + e.cause.Error() }
