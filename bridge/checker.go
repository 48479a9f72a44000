package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"

	"github.com/paybridge/paybridge"
)

// checker runs the path of one check (docs/contract.md, "Check
// request"): max_age from the store, or the provider asked once for every
// concurrent check of the payment (coalescing, circuit, budget), its
// answer recorded by the claimer (claim.go), and the reply.
type checker struct {
	merchants   *merchants
	claims      *claimer
	watches     Watches
	rechecks    triggers // asked again: a payment whose answer came late, undated
	callTimeout time.Duration
	group       singleflight.Group
	finished    *finishedCalls
	log         *slog.Logger
	metrics     *metrics
	clock       Clock
	tracing     tracing
}

// Watches keeps payments checked until they settle (watcher.go). Start is
// idempotent per payment: it returns the deadline of the watch in force,
// which is in the past when that watch is just ending.
type Watches interface {
	Start(ctx context.Context, p Payment) (until time.Time, err error)
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
	pay := req.payment()
	m, err := c.merchants.get(pay)
	if err != nil {
		return paybridge.Reply{}, err
	}
	key := pay.Key()
	if req.MaxAge > 0 {
		e, found, err := c.claims.read(ctx, key, false)
		if err != nil {
			return paybridge.Reply{}, err
		}
		if found && c.clock.Now().Sub(e.checkedAt()) <= req.MaxAge {
			// Fresh enough: the reply is the stored record, read whole.
			rec, checkedAt, found, err := c.claims.readRecord(ctx, key)
			if err != nil {
				return paybridge.Reply{}, err
			}
			if found && c.clock.Now().Sub(checkedAt) <= req.MaxAge {
				rep = replyUnchanged(rec, paybridge.SourceStore, checkedAt)
				rep.RequestID = req.RequestID
				return c.withWatch(ctx, key, rep, req.Watch)
			}
		}
	}
	received := req.received
	if received.IsZero() {
		received = c.clock.Now() // work the bridge started itself
	}
	obs, err := c.observe(ctx, m, pay, key, received, patient)
	if err != nil {
		if req.Watch {
			// Provider errors re-schedule a watch (docs/contract.md,
			// "Watches"): it is stored all the same, and its first poll
			// retries the check. When it cannot be, a retryable error's
			// reply says so instead, which would let the caller take the
			// watch for stored; an answer that will not change by asking
			// again (payment not found) stays the reply.
			if _, werr := c.watches.Start(ctx, pay); werr != nil {
				c.log.Warn("watch not stored after a failed check", "provider", pay.Provider, "account", pay.Account,
					"payment_id", pay.ID, "check_error", err, "error", werr)
				if paybridge.ErrorCode(err).Retryable() {
					return paybridge.Reply{}, internalError(werr)
				}
			}
		}
		return paybridge.Reply{}, err
	}
	rep = obs.reply(pay)
	rep.RequestID = req.RequestID
	return c.withWatch(ctx, key, rep, req.Watch)
}

// Lookup answers a payments.status.get request from the store alone.
func (c *checker) Lookup(ctx context.Context, req StatusRequest) (paybridge.Reply, error) {
	pay := Payment{Provider: req.Provider, Account: req.Account, ID: req.PaymentID}
	if _, err := c.merchants.get(pay); err != nil {
		return paybridge.Reply{}, err
	}
	rec, checkedAt, found, err := c.claims.readRecord(ctx, pay.Key())
	if err != nil {
		return paybridge.Reply{}, err
	}
	if !found {
		return paybridge.Reply{}, paybridge.Errorf(paybridge.CodePaymentNotFound, "no status stored for this payment")
	}
	rep := replyUnchanged(rec, paybridge.SourceStore, checkedAt)
	rep.Watching = !rec.Terminal && rec.WatchUntil != nil && rec.WatchUntil.After(c.clock.Now())
	return rep, nil
}

// withWatch starts a watch when one is asked for and the payment is not
// settled, and says in the reply whether one is in force.
func (c *checker) withWatch(ctx context.Context, key string, rep paybridge.Reply, start bool) (paybridge.Reply, error) {
	if rep.Terminal {
		return rep, nil // nothing left to watch for
	}
	if start {
		until, err := c.watches.Start(ctx, Payment{Provider: rep.Provider, Account: rep.Account, ID: rep.PaymentID})
		if err == nil && until.After(c.clock.Now()) {
			err = c.claims.markWatched(ctx, key, until)
		}
		if err != nil {
			return paybridge.Reply{}, internalError(fmt.Errorf("starting watch: %w", err))
		}
		// A watch ending right now (its order past the deadline) is not
		// in force; asking again after it ends starts a new one.
		rep.Watching = until.After(c.clock.Now())
		return rep, nil
	}
	e, found, err := c.claims.read(ctx, key, false)
	if err != nil {
		return paybridge.Reply{}, err
	}
	rep.Watching = found && e.watching(c.clock.Now())
	return rep, nil
}

// observe asks the provider once for all concurrent checks of key: those
// that reach the call in flight, and those that arrived before it finished
// (finishedCalls). A patient caller takes its budget before joining; the
// call itself runs on its own deadline so that one caller giving up does
// not abandon a change half-way for the others.
func (c *checker) observe(ctx context.Context, m *merchant, pay Payment, key string, received time.Time, patient bool) (observation, error) {
	if obs, ok := c.finished.since(key, received); ok {
		return obs, nil
	}
	// An open circuit refuses before any budget is spent on the call.
	if err := m.circuit.refusing(m.provider, c.clock.Now()); err != nil {
		return observation{}, err
	}
	if patient {
		// A patient caller's time may be up before it begins (a watch's
		// next firing is near): it starts no call, nor spends budget.
		if ctx.Err() != nil {
			return observation{}, paybridge.Errorf(paybridge.CodeProviderTimeout, "%s: no time left for a call", m.provider)
		}
		// Outside the shared call, so that a check joining it never waits
		// on a watch's patience.
		if err := c.spend(ctx, m, true); err != nil {
			return observation{}, err
		}
		if obs, ok := c.finished.since(key, received); ok {
			return obs, nil // answered while we waited
		}
	}
	v, err, _ := c.group.Do(key, func() (any, error) {
		if !patient {
			if err := c.spend(ctx, m, false); err != nil {
				return observation{}, err
			}
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.callTimeout)
		defer cancel()
		obs, err := c.checkProvider(ctx, m, pay, key)
		if err == nil {
			c.finished.put(key, obs, c.clock.Now())
		}
		return obs, err
	})
	if err != nil {
		return observation{}, err
	}
	return v.(observation), nil
}

func (c *checker) checkProvider(ctx context.Context, m *merchant, pay Payment, key string) (observation, error) {
	// The record in force before the call: an answer is weighed against
	// the changes claimed while the call ran (claimer.weigh).
	e, found, err := c.claims.read(ctx, key, false)
	if err != nil {
		return observation{}, err
	}
	start := c.clock.Now()
	probe, err := m.circuit.allow(m.provider, start)
	if err != nil {
		return observation{}, err
	}
	callCtx, span := c.tracing.start(ctx, "paybridge.provider_call", trace.SpanKindClient)
	if c.tracing.on {
		span.SetAttributes(attrProvider.String(m.provider))
	}
	res, err := callProvider(callCtx, m.client, pay.ID)
	endSpan(span, err)
	end := c.clock.Now()
	c.metrics.countProviderCall(m.provider, err, end.Sub(start))
	wasOpen, open := m.circuit.isOpen(), m.circuit.record(probe, err, end)
	switch {
	case m.account == "":
		c.metrics.circuitOpen.WithLabelValues(m.provider).Set(boolGauge(open))
	case open && !wasOpen:
		// One merchant's circuit is no provider outage: logged, not a
		// series of its own (there may be 100,000 merchants).
		c.log.WarnContext(ctx, "an account's circuit opened: its calls keep failing", "provider", m.provider,
			"account", m.account, "code", paybridge.ErrorCode(err))
	}
	if err != nil {
		return observation{}, err
	}
	if res.Status == paybridge.StatusUnknown {
		c.log.WarnContext(ctx, "provider status not in the mapping table", "provider", m.provider, "account", m.account,
			"payment_id", pay.ID, "provider_status", res.ProviderStatus, "provider_status_detail", res.ProviderStatusDetail)
	}
	obs, err := c.claims.applySince(ctx, pay, key, res, c.clock.Now(), &snapshot{entry: e, found: found})
	if err == nil && obs.recheck {
		if err := c.rechecks.trigger(ctx, pay, triggerRecheck); err != nil {
			c.log.WarnContext(ctx, "a late answer's payment is not asked again", "provider", pay.Provider,
				"account", pay.Account, "payment_id", pay.ID, "error", err)
		}
	}
	return obs, err
}

// spend takes a call from m's budget; one merchant's spent budget is
// logged, at most once a minute, and refuses only its own checks.
func (c *checker) spend(ctx context.Context, m *merchant, patient bool) error {
	err := m.budget.wait(ctx, patient)
	if err != nil && m.account != "" && m.budget.logDue(c.clock.Now()) {
		c.log.InfoContext(ctx, "an account's call budget is spent", "provider", m.provider, "account", m.account,
			"budget", m.limit.String())
	}
	return err
}

// callProvider asks p, turning a panic in it into an internal error: a
// provider's bug must not take the process down (a watch's goroutine has
// no other guard) nor keep its circuit's probe taken for good. An answer
// dated outside the years a payment can be dated is refused, whichever way
// the provider's client read the time: answers are ordered by it.
func callProvider(ctx context.Context, p paybridge.Provider, paymentID string) (res paybridge.Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &internal{fmt.Errorf("provider %s panicked: %v", p.Name(), v)}
		}
	}()
	res, err = p.Check(ctx, paymentID)
	if err == nil && !res.UpdatedAt.IsZero() && !paybridge.Dated(res.UpdatedAt) {
		return paybridge.Result{}, paybridge.Errorf(paybridge.CodeProviderBadResponse,
			"%s: the answer is dated %s, outside 1970 to 2199", p.Name(), res.UpdatedAt.UTC().Format(time.RFC3339))
	}
	return res, err
}

// reply describes the observation to one of the checks that shared it.
func (o observation) reply(pay Payment) paybridge.Reply {
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
	rep := replyFromRecord(Record{StatusChanged: statusData(pay, o.result, nil, o.checkedAt)}, paybridge.SourceProvider, o.checkedAt)
	if o.found {
		status := o.stored.status.Status()
		rep.PreviousStatus = &status
		rep.Revision = o.stored.claimRevision
	}
	return rep
}

// replyFromRecord describes a stored record as the change it records.
func replyFromRecord(rec Record, source string, checkedAt time.Time) paybridge.Reply {
	return paybridge.Reply{
		Provider:             rec.Provider,
		Account:              rec.Account,
		PaymentID:            rec.PaymentID,
		Status:               rec.Status,
		PreviousStatus:       rec.PreviousStatus,
		Terminal:             rec.Terminal,
		ProviderStatus:       rec.ProviderStatus,
		ProviderStatusDetail: rec.ProviderStatusDetail,
		Amount:               rec.Amount,
		Currency:             rec.Currency,
		AmountPaid:           rec.AmountPaid,
		CryptoAmount:         rec.CryptoAmount,
		CryptoCurrency:       rec.CryptoCurrency,
		ProviderUpdatedAt:    rec.ProviderUpdatedAt,
		CheckedAt:            checkedAt,
		Revision:             rec.Revision,
		EventID:              rec.EventID,
		Source:               source,
	}
}

// replyUnchanged describes a stored record that this request did not
// change: previous_status is the status itself, and no event is named.
func replyUnchanged(rec Record, source string, checkedAt time.Time) paybridge.Reply {
	rep := replyFromRecord(rec, source, checkedAt)
	status := rec.Status
	rep.PreviousStatus = &status
	rep.EventID = ""
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
