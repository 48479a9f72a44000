package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/providers"
)

// maxClaimAttempts bounds the re-read loop when racing writers keep
// changing a record under us.
const maxClaimAttempts = 8

// checker runs the path of one check: provider → normalized status →
// transition guard → compare-and-set in the store → event → reply
// (SPEC section 7). Concurrent checks of one payment share one provider
// call and one store update.
type checker struct {
	providers    map[string]providers.Provider
	store        *statusStore
	publisher    *publisher
	eventSubject string
	callTimeout  time.Duration
	budgets      budgets
	watcher      *watcher
	group        singleflight.Group
	recent       *recentChecks
	log          *slog.Logger
	metrics      *metrics
	now          func() time.Time

	// afterClaim, when set by tests, runs between the claim and the
	// publish; an error stops the check there, as a crash would.
	afterClaim func(Record) error
}

// observation is what one provider call led to; coalesced checks share it.
type observation struct {
	result    providers.Result
	current   Record // the record in force afterwards; valid when found
	found     bool
	changed   bool
	stale     bool
	checkedAt time.Time
}

// Check answers one check request.
func (c *checker) Check(ctx context.Context, req CheckRequest) (Reply, error) {
	return c.check(ctx, req, false)
}

// check answers a check. A patient check (a watch or a webhook trigger)
// waits as long as it takes for the provider's budget; one with a caller
// waiting on the reply gives up after checkBudgetWait.
func (c *checker) check(ctx context.Context, req CheckRequest, patient bool) (rep Reply, err error) {
	defer func() { c.metrics.countCheck(req.Provider, rep, err) }()
	p, ok := c.providers[req.Provider]
	if !ok {
		return Reply{}, providers.Errorf(providers.CodeUnknownProvider, "provider %q is not configured", req.Provider)
	}
	key := Key(req.Provider, req.PaymentID)
	if req.MaxAge > 0 {
		rep, ok, err := c.fromStore(ctx, key, req.MaxAge)
		if err != nil {
			return Reply{}, err
		}
		if ok {
			rep.RequestID = req.RequestID
			return c.withWatch(ctx, rep, req.Watch)
		}
	}
	obs, err := c.observe(ctx, p, key, req.PaymentID, patient)
	if err != nil {
		return Reply{}, err
	}
	rep = obs.reply(req.Provider, req.PaymentID)
	rep.RequestID = req.RequestID
	return c.withWatch(ctx, rep, req.Watch)
}

// withWatch starts a watch when one is asked for and the payment is not
// settled, and says in the reply whether one is in force.
func (c *checker) withWatch(ctx context.Context, rep Reply, start bool) (Reply, error) {
	if rep.Terminal {
		return rep, nil // nothing left to watch for
	}
	if start {
		if err := c.watcher.start(ctx, rep.Provider, rep.PaymentID); err != nil {
			return Reply{}, internalError(fmt.Errorf("starting watch: %w", err))
		}
		rep.Watching = true
		return rep, nil
	}
	watching, err := c.watcher.active(ctx, rep.Provider, rep.PaymentID)
	if err != nil {
		return Reply{}, internalError(fmt.Errorf("looking up watch: %w", err))
	}
	rep.Watching = watching
	return rep, nil
}

// Lookup answers a payments.status.get request from the store alone.
func (c *checker) Lookup(ctx context.Context, req StatusRequest) (Reply, error) {
	if _, ok := c.providers[req.Provider]; !ok {
		return Reply{}, providers.Errorf(providers.CodeUnknownProvider, "provider %q is not configured", req.Provider)
	}
	key := Key(req.Provider, req.PaymentID)
	rec, rev, found, err := c.store.Get(ctx, key)
	if err != nil {
		return Reply{}, internalError(err)
	}
	if !found {
		return Reply{}, providers.Errorf(providers.CodePaymentNotFound, "no status stored for this payment")
	}
	return c.withWatch(ctx, replyFromRecord(rec, SourceStore, c.recent.checkedAt(key, rev, rec.ObservedAt)), false)
}

// fromStore answers from the stored record when it was checked at most
// maxAge ago; ok is false when the provider must be asked.
func (c *checker) fromStore(ctx context.Context, key string, maxAge time.Duration) (Reply, bool, error) {
	rec, rev, found, err := c.store.Get(ctx, key)
	if err != nil {
		return Reply{}, false, internalError(err)
	}
	if !found {
		return Reply{}, false, nil
	}
	at := c.recent.checkedAt(key, rev, rec.ObservedAt)
	if c.now().Sub(at) > maxAge {
		return Reply{}, false, nil
	}
	return replyFromRecord(rec, SourceStore, at), true, nil
}

// observe asks the provider once for all concurrent checks of key. The
// first caller's patience decides how long the call waits for budget; the
// call itself runs on its own deadline so that one caller giving up does
// not abandon a change half-way for the others.
func (c *checker) observe(ctx context.Context, p providers.Provider, key, paymentID string, patient bool) (observation, error) {
	ch := c.group.DoChan(key, func() (any, error) {
		if err := c.budgets.wait(ctx, p.Name(), patient); err != nil {
			return observation{}, err
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.callTimeout)
		defer cancel()
		return c.checkProvider(ctx, p, key, paymentID)
	})
	select {
	case <-ctx.Done():
		return observation{}, providers.Errorf(providers.CodeProviderTimeout, "%s did not answer in time", p.Name())
	case r := <-ch:
		if r.Err != nil {
			return observation{}, r.Err
		}
		return r.Val.(observation), nil
	}
}

func (c *checker) checkProvider(ctx context.Context, p providers.Provider, key, paymentID string) (observation, error) {
	start := time.Now()
	res, err := p.Check(ctx, paymentID)
	c.metrics.countProviderCall(p.Name(), err, time.Since(start))
	if err != nil {
		return observation{}, err
	}
	if res.Status == providers.StatusUnknown {
		c.log.Warn("provider status not in the mapping table", "provider", p.Name(), "payment_id", paymentID,
			"provider_status", res.ProviderStatus, "provider_status_detail", res.ProviderStatusDetail)
	}
	return c.apply(ctx, p.Name(), paymentID, key, res, c.now())
}

// apply records res as the payment's status, as SPEC section 7 lays out:
// read; same status → nothing; claim the change with a compare-and-set
// (re-reading on conflict); publish; mark published.
func (c *checker) apply(ctx context.Context, provider, paymentID, key string, res providers.Result, checkedAt time.Time) (observation, error) {
	for range maxClaimAttempts {
		cur, rev, found, err := c.store.Get(ctx, key)
		if err != nil {
			return observation{}, internalError(err)
		}
		if found && !cur.Published {
			// A claimed change not yet announced: announce it before it
			// can be replaced, or its event would be lost.
			if rev, err = c.finish(ctx, key, cur, rev); err != nil {
				return observation{}, internalError(err)
			}
			cur.Published = true
		}
		obs := observation{result: res, current: cur, found: found, checkedAt: checkedAt}
		switch {
		case res.Status == providers.StatusUnknown:
			return obs, nil // never stored: we do not know what it means
		case found && cur.Status == res.Status:
			c.recent.note(key, rev, checkedAt)
			return obs, nil
		case found && cur.Status.Terminal() && !res.Status.Terminal():
			obs.stale = true // a settled payment cannot become unsettled
			c.recent.note(key, rev, checkedAt)
			return obs, nil
		}
		var prev *providers.Status
		if found {
			prev = &cur.Status
		}
		next := newRecord(provider, paymentID, res, prev, rev, checkedAt)
		claimRev, err := c.store.Put(ctx, key, next, rev)
		if errors.Is(err, errConflict) {
			c.metrics.kvConflicts.Inc()
			continue
		}
		if err != nil {
			return observation{}, internalError(err)
		}
		next.Revision = claimRev
		c.metrics.countChange(prev, next.Status)
		if c.afterClaim != nil {
			if err := c.afterClaim(next); err != nil {
				return observation{}, err
			}
		}
		// A failed publish is not the caller's failure: the change is
		// stored and the reconciler will announce it.
		markRev, _ := c.finish(ctx, key, next, claimRev)
		c.recent.note(key, markRev, checkedAt)
		obs.current, obs.found, obs.changed = next, true, true
		return obs, nil
	}
	return observation{}, providers.Errorf(providers.CodeInternal, "status of this payment kept changing under %d attempts", maxClaimAttempts)
}

// finish publishes the event of a claimed record and marks it published.
// It returns the record's revision afterwards. Losing the race to mark it
// is fine: whoever changed the record saw it unpublished and announced it.
func (c *checker) finish(ctx context.Context, key string, rec Record, rev uint64) (uint64, error) {
	err := c.publisher.Publish(ctx, c.eventSubject, events.NewStatusChanged(rec.EventID, rec.StatusChanged))
	if err != nil {
		c.log.Error("event not published; the reconciler will retry", "event_id", rec.EventID,
			"provider", rec.Provider, "payment_id", rec.PaymentID, "error", err)
		return rev, err
	}
	rec.Published = true
	markRev, err := c.store.Put(ctx, key, rec, rev)
	switch {
	case errors.Is(err, errConflict):
		return rev, nil
	case err != nil:
		c.log.Warn("event published but not marked; it may be sent again with the same id",
			"event_id", rec.EventID, "error", err)
		return rev, nil
	}
	return markRev, nil
}

// newRecord builds the record claiming that the payment moved to res.Status
// after the record read at readRev.
func newRecord(provider, paymentID string, res providers.Result, prev *providers.Status, readRev uint64, at time.Time) Record {
	var updated *time.Time
	if !res.UpdatedAt.IsZero() {
		u := res.UpdatedAt.UTC()
		updated = &u
	}
	return Record{
		StatusChanged: events.StatusChanged{
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
		},
		EventID: EventID(provider, paymentID, readRev, res.Status),
	}
}

// reply describes the observation to one of the checks that shared it.
func (o observation) reply(provider, paymentID string) Reply {
	if o.changed || o.stale {
		rep := replyFromRecord(o.current, SourceProvider, o.checkedAt)
		rep.Changed, rep.Stale = o.changed, o.stale
		if o.stale {
			rep.EventID = ""
		}
		return rep
	}
	// Unchanged or unknown: the provider's fresh words, the stored revision.
	rec := newRecord(provider, paymentID, o.result, nil, 0, o.checkedAt)
	rep := replyFromRecord(rec, SourceProvider, o.checkedAt)
	rep.EventID = ""
	if o.found {
		rep.PreviousStatus = &o.current.Status
		rep.Revision = o.current.Revision
	}
	return rep
}

// internalError hides a library error's words from the caller; the caller
// logs the original.
func internalError(err error) error {
	var pe *providers.Error
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
