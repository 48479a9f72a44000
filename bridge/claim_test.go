package bridge

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/internal/testkit"
)

// The claim algorithm against in-memory implementations of its three
// contracts (Store, Announcer, Outbox): every rule of docs/contract.md, "Claiming a change", without
// NATS. The integration tests run the same algorithm on JetStream.

// memStore is a Store in memory: revisions count up across keys, as a
// bucket's do. beforePut, when set, runs before each write is decided, so
// a test can slip in a racing writer.
type memStore struct {
	mu        sync.Mutex
	last      uint64
	recs      map[string]memEntry
	beforePut func(key string)
}

type memEntry struct {
	rec Record
	rev uint64
}

func newMemStore() *memStore { return &memStore{recs: map[string]memEntry{}} }

func (s *memStore) Get(_ context.Context, key string) (Record, uint64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.recs[key]
	return e.rec, e.rev, ok, nil
}

func (s *memStore) Put(_ context.Context, key string, rec Record, rev uint64) (uint64, error) {
	if s.beforePut != nil {
		s.beforePut(key)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recs[key].rev != rev {
		return 0, errConflict
	}
	s.last++
	if rec.Revision == 0 {
		rec.Revision = s.last
	}
	s.recs[key] = memEntry{rec, s.last}
	return s.last, nil
}

// memAnnouncer records what it announces; fail makes it refuse.
type memAnnouncer struct {
	mu   sync.Mutex
	sent []events.Event
	fail error
}

func (a *memAnnouncer) Announce(_ context.Context, _ string, e events.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return a.fail
	}
	a.sent = append(a.sent, e)
	return nil
}

func (a *memAnnouncer) ids() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, e := range a.sent {
		out = append(out, e.ID)
	}
	return out
}

// memOutbox is an Outbox in memory, one note per claim (key and event id).
type memOutbox struct {
	mu    sync.Mutex
	last  uint64
	notes map[uint64]OutboxEntry
}

func (o *memOutbox) Note(_ context.Context, key, eventID string) (uint64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for t, n := range o.notes {
		if n.Key == key && n.EventID == eventID {
			delete(o.notes, t) // a note of the same claim replaces its twin
		}
	}
	o.last++
	o.notes[o.last] = OutboxEntry{Key: key, EventID: eventID, Ticket: o.last, NotedAt: time.Now()}
	return o.last, nil
}

func (o *memOutbox) CrossOff(_ context.Context, ticket uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.notes, ticket)
	return nil
}

func (o *memOutbox) Pending(_ context.Context, limit int) ([]OutboxEntry, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []OutboxEntry
	for _, n := range o.notes {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b OutboxEntry) int { return cmp.Compare(a.Ticket, b.Ticket) })
	return out[:min(limit, len(out))], nil
}

// claimWorld is one claimer on a memStore, at a clock the test moves.
type claimWorld struct {
	store  *memStore
	ann    *memAnnouncer
	outbox *memOutbox
	c      *claimer
	clock  *testkit.Clock
}

func newClaimWorld(t *testing.T) *claimWorld {
	t.Helper()
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	w := &claimWorld{store: newMemStore(), ann: &memAnnouncer{}, outbox: &memOutbox{notes: map[uint64]OutboxEntry{}},
		clock: testkit.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}
	w.c = &claimer{store: w.store, announcer: w.ann, outbox: w.outbox, subject: "payments.status.changed", view: newView(100, m),
		unannounced: newUnannounced(20*time.Second, w.clock), grace: 20 * time.Second, log: slog.New(slog.DiscardHandler),
		metrics: m, clock: w.clock}
	return w
}

// claimPayment is the payment of the claim tests, at claimKey.
var claimPayment = Payment{Provider: "coinbar", ID: "p1"}

const claimKey = "coinbar.p1"

func (w *claimWorld) apply(t *testing.T, status paybridge.Status) observation {
	t.Helper()
	obs, err := w.c.apply(t.Context(), claimPayment, paybridge.Result{Status: status, ProviderStatus: string(status)}, w.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return obs
}

func (w *claimWorld) stored(t *testing.T) Record {
	t.Helper()
	rec, _, ok, _ := w.store.Get(t.Context(), claimKey)
	if !ok {
		t.Fatal("no record stored")
	}
	return rec
}

func TestClaimFirstSightThenChange(t *testing.T) {
	w := newClaimWorld(t)
	first := w.apply(t, paybridge.StatusPending)
	if !first.changed || first.current.PreviousStatus != nil || !w.stored(t).Published {
		t.Fatalf("first sight: %+v, stored %+v", first, w.stored(t))
	}
	if same := w.apply(t, paybridge.StatusPending); same.changed || same.stale {
		t.Fatalf("same status: %+v", same)
	}
	paid := w.apply(t, paybridge.StatusPaid)
	if !paid.changed || *paid.current.PreviousStatus != paybridge.StatusPending {
		t.Fatalf("change: %+v", paid)
	}
	if ids := w.ann.ids(); len(ids) != 2 || ids[0] == ids[1] {
		t.Fatalf("announced %v", ids)
	}
	// Written: the claim and its mark, twice; nothing for the same status.
	if w.store.last != 4 {
		t.Fatalf("%d writes", w.store.last)
	}
	// Every claim announced is crossed off the outbox.
	if n, _ := w.outbox.Pending(t.Context(), 10); len(n) != 0 {
		t.Fatalf("outbox holds %v", n)
	}
}

func TestClaimStaleReadChangesNothing(t *testing.T) {
	w := newClaimWorld(t)
	w.apply(t, paybridge.StatusPaid)
	paidAt := w.clock.Now()
	writes := w.store.last
	w.clock.Advance(time.Hour)
	obs := w.apply(t, paybridge.StatusPending)
	if !obs.stale || obs.changed || w.store.last != writes || w.stored(t).Status != paybridge.StatusPaid {
		t.Fatalf("stale read: %+v", obs)
	}
	// The provider did not confirm paid: a check with a max age is not
	// answered from the store on the strength of the stale read.
	if e, _ := w.c.view.get(claimKey); !e.checkedAt().Equal(paidAt) {
		t.Fatalf("after a stale read the view says paid was confirmed at %s, want %s", e.checkedAt(), paidAt)
	}
	if obs := w.apply(t, paybridge.StatusRefunded); !obs.changed {
		t.Fatalf("terminal to terminal is a change: %+v", obs)
	}
}

func TestClaimUnknownWordsAreNeverStored(t *testing.T) {
	w := newClaimWorld(t)
	if obs := w.apply(t, paybridge.StatusUnknown); obs.changed || obs.found || w.store.last != 0 || len(w.ann.ids()) != 0 {
		t.Fatalf("unknown: %+v", obs)
	}
}

// A writer that slips in between the read and the claim loses nobody's
// change: the claim fails, is read again and decided anew.
func TestClaimConflictReadsAgain(t *testing.T) {
	w := newClaimWorld(t)
	w.apply(t, paybridge.StatusPending)
	raced := false
	w.store.beforePut = func(key string) {
		if raced {
			return
		}
		raced = true
		rec, rev, _, _ := w.store.Get(t.Context(), key)
		rec.Status, rec.Published = paybridge.StatusUnderpaid, true
		w.store.beforePut = nil
		if _, err := w.store.Put(t.Context(), key, rec, rev); err != nil {
			t.Error(err)
		}
	}
	obs := w.apply(t, paybridge.StatusPaid)
	if !obs.changed || *obs.current.PreviousStatus != paybridge.StatusUnderpaid {
		t.Fatalf("after a conflict: %+v", obs)
	}
}

// claimByOther stores an unpublished claim of status, as another instance
// that has not published it yet leaves it, made at the given time.
func (w *claimWorld) claimByOther(t *testing.T, status paybridge.Status, at time.Time) Record {
	t.Helper()
	_, rev, _, _ := w.store.Get(t.Context(), claimKey)
	rec := newRecord(claimPayment, paybridge.Result{Status: status}, nil, rev, at)
	if _, err := w.store.Put(t.Context(), claimKey, rec, rev); err != nil {
		t.Fatal(err)
	}
	return rec
}

// A claim another instance made and may still be publishing is left to
// it when this answer agrees with it.
func TestClaimOfAnotherInstanceIsLeftToIt(t *testing.T) {
	w := newClaimWorld(t)
	w.claimByOther(t, paybridge.StatusPaid, w.clock.Now())
	if obs := w.apply(t, paybridge.StatusPaid); obs.changed {
		t.Fatalf("reply: %+v", obs)
	}
	if ids := w.ann.ids(); len(ids) != 0 {
		t.Fatalf("announced another instance's fresh claim: %v", ids)
	}
}

// A claim to be replaced is announced first: once this instance has seen
// it unannounced for the grace period, it announces it itself.
func TestClaimToBeReplacedIsAnnouncedFirst(t *testing.T) {
	w := newClaimWorld(t)
	other := w.claimByOther(t, paybridge.StatusPending, w.clock.Now())
	w.apply(t, paybridge.StatusPending) // the same status: seen, and left to its claimer
	if ids := w.ann.ids(); len(ids) != 0 {
		t.Fatalf("announced %v within the grace period", ids)
	}
	w.clock.Advance(w.c.grace)
	w.apply(t, paybridge.StatusPaid)
	ids := w.ann.ids()
	if len(ids) != 2 || ids[0] != other.EventID {
		t.Fatalf("announced %v, want the overdue claim %s first", ids, other.EventID)
	}
}

// While its claimer may still be publishing it, a claim to be replaced is
// waited for: once the claimer marks it published, only this check's own
// change is announced here.
func TestClaimToBeReplacedWaitsForItsClaimer(t *testing.T) {
	w := newClaimWorld(t)
	w.claimByOther(t, paybridge.StatusPending, w.clock.Now())
	done := make(chan observation)
	go func() {
		obs, err := w.c.apply(context.Background(), claimPayment, paybridge.Result{Status: paybridge.StatusPaid}, w.clock.Now())
		if err != nil {
			t.Error(err)
		}
		done <- obs
	}()
	// The check waits on the clock between looks at the claim; moving it
	// on, short of the grace period, has it look again, still unpublished.
	for range 3 {
		testkit.WaitFor(t, 5*time.Second, "the check to wait on the claim", func() bool { return w.clock.Waiting() == 1 })
		w.clock.Advance(time.Second)
	}
	testkit.WaitFor(t, 5*time.Second, "the check to wait on the claim", func() bool { return w.clock.Waiting() == 1 })
	if ids := w.ann.ids(); len(ids) != 0 {
		t.Fatalf("announced %v while the claimer may be publishing", ids)
	}
	// The other instance publishes its claim and marks the record it
	// stored (with the claim's revision) published.
	other, rev, _, _ := w.store.Get(t.Context(), claimKey)
	other.Published = true
	if _, err := w.store.Put(t.Context(), claimKey, other, rev); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Second)
	obs := <-done
	if ids := w.ann.ids(); len(ids) != 1 || ids[0] != obs.current.EventID || ids[0] == other.EventID {
		t.Fatalf("announced %v; the other claim is %s", ids, other.EventID)
	}
	if *obs.current.PreviousStatus != paybridge.StatusPending {
		t.Fatalf("change: %+v", obs.current)
	}
}

// A claim this instance could not announce is announced by its next check
// at once, without the grace period another instance's claim gets.
func TestAbandonedClaimIsAnnouncedByTheNextCheck(t *testing.T) {
	w := newClaimWorld(t)
	w.ann.fail = errors.New("stream unavailable")
	obs := w.apply(t, paybridge.StatusPending)
	if !obs.changed || w.stored(t).Published {
		t.Fatalf("claim: %+v", obs)
	}
	if n, _ := w.outbox.Pending(t.Context(), 10); len(n) != 1 || n[0].EventID != obs.current.EventID {
		t.Fatalf("the unannounced claim is not in the outbox: %v", n)
	}
	w.ann.fail = nil
	w.apply(t, paybridge.StatusPaid)
	ids := w.ann.ids()
	if len(ids) != 2 || ids[0] != obs.current.EventID || !w.stored(t).Published {
		t.Fatalf("announced %v, stored %+v", ids, w.stored(t))
	}
}

// A claim rewritten before its mark (a watch noted in it) is marked in its
// new form.
func TestClaimRewrittenBeforeItsMarkKeepsTheRewrite(t *testing.T) {
	w := newClaimWorld(t)
	until := w.clock.Now().Add(time.Hour)
	w.c.afterClaim = func(Record) error { return w.c.markWatched(t.Context(), claimKey, until) }
	w.apply(t, paybridge.StatusPending)
	rec := w.stored(t)
	if !rec.Published || rec.WatchUntil == nil || !rec.WatchUntil.Equal(until) {
		t.Fatalf("stored %+v", rec)
	}
}

func TestJudgeAppliesTheTransitionGuard(t *testing.T) {
	for _, c := range []struct {
		found        bool
		stored, next paybridge.Status
		want         verdict
	}{
		{false, "", paybridge.StatusPending, verdictChange},
		{false, "", paybridge.StatusUnknown, verdictUnknown},
		{true, paybridge.StatusPending, paybridge.StatusUnknown, verdictUnknown},
		{true, paybridge.StatusPending, paybridge.StatusPending, verdictSame},
		{true, paybridge.StatusPending, paybridge.StatusUnderpaid, verdictChange},
		{true, paybridge.StatusUnderpaid, paybridge.StatusPending, verdictChange},
		{true, paybridge.StatusPending, paybridge.StatusPaid, verdictChange},
		{true, paybridge.StatusPaid, paybridge.StatusPending, verdictStale},
		{true, paybridge.StatusExpired, paybridge.StatusUnderpaid, verdictStale},
		{true, paybridge.StatusPaid, paybridge.StatusRefunded, verdictChange},
		{true, paybridge.StatusExpired, paybridge.StatusPaid, verdictChange},
		{true, paybridge.StatusPaid, paybridge.StatusPaid, verdictSame},
	} {
		if got := judge(c.found, c.stored, c.next); got != c.want {
			t.Errorf("judge(%t, %q, %q) = %d, want %d", c.found, c.stored, c.next, got, c.want)
		}
	}
}

// reconcileNow runs one reconciler round over w's claimer with no grace,
// as one would any time later.
func (w *claimWorld) reconcileNow(t *testing.T) {
	t.Helper()
	r := &reconciler{claims: w.c, grace: 0, log: slog.New(slog.DiscardHandler), metrics: w.c.metrics, clock: w.c.clock}
	r.round(t.Context())
}

// announced reports whether the event id was announced.
func (w *claimWorld) announced(id string) bool { return slices.Contains(w.ann.ids(), id) }

// Instance A claims a change and dies before announcing it. Instance B,
// its view one write behind, makes the same claim (the same event id):
// its note replaces A's twin, its compare-and-set loses. B must not cross
// off the note: it is now the only trace of A's claim.
func TestLosingTwinClaimKeepsTheNote(t *testing.T) {
	w := newClaimWorld(t)
	b := &claimer{store: w.store, announcer: w.ann, outbox: w.outbox, subject: w.c.subject, view: newView(100, w.c.metrics),
		unannounced: newUnannounced(w.c.grace, w.c.clock), grace: w.c.grace, log: w.c.log, metrics: w.c.metrics, clock: w.c.clock}
	w.apply(t, paybridge.StatusPending)
	if _, _, err := b.read(t.Context(), claimKey, false); err != nil { // B's view: pending, published
		t.Fatal(err)
	}
	crash := errors.New("crash between claim and announce")
	w.c.afterClaim = func(Record) error { return crash }
	paid := paybridge.Result{Status: paybridge.StatusPaid, ProviderStatus: "SUCCESS"}
	if _, err := w.c.apply(t.Context(), claimPayment, paid, w.clock.Now()); !errors.Is(err, crash) {
		t.Fatalf("A: %v", err)
	}
	claim := w.stored(t)
	if obs, err := b.apply(t.Context(), claimPayment, paid, w.clock.Now()); err != nil || obs.changed {
		t.Fatalf("B: %+v %v", obs, err)
	}
	if notes, _ := w.outbox.Pending(t.Context(), 10); len(notes) != 1 || notes[0].EventID != claim.EventID {
		t.Fatalf("outbox after B: %v, want the note of %s", notes, claim.EventID)
	}
	w.c.afterClaim = nil
	w.reconcileNow(t)
	if !w.announced(claim.EventID) || !w.stored(t).Published {
		t.Fatalf("claim %s never announced: announced %v", claim.EventID, w.ann.ids())
	}
}

// A claim whose compare-and-set lost to another change crosses its note
// off: no claim of it was made.
func TestLosingClaimCrossesItsNoteOff(t *testing.T) {
	w := newClaimWorld(t)
	w.apply(t, paybridge.StatusPending)
	w.store.beforePut = func(key string) {
		w.store.beforePut = nil
		rec, rev, _, _ := w.store.Get(t.Context(), key)
		rec.Status, rec.EventID = paybridge.StatusUnderpaid, "another-change"
		if _, err := w.store.Put(t.Context(), key, rec, rev); err != nil {
			t.Error(err)
		}
	}
	obs := w.apply(t, paybridge.StatusPaid)
	notes, _ := w.outbox.Pending(t.Context(), 10)
	if len(notes) != 0 {
		t.Fatalf("outbox holds %v after the change %s was announced", notes, obs.current.EventID)
	}
}

// lostAnswerStore stores a write and then fails it, as a JetStream publish
// whose acknowledgement was lost does.
type lostAnswerStore struct{ *memStore }

func (s lostAnswerStore) Put(ctx context.Context, key string, rec Record, rev uint64) (uint64, error) {
	if _, err := s.memStore.Put(ctx, key, rec, rev); err != nil {
		return 0, err
	}
	return 0, errors.New("nats: timeout")
}

// A claim whose write failed without an answer may be stored all the
// same: its note stays, and the reconciler announces it.
func TestClaimWithALostWriteAnswerIsAnnounced(t *testing.T) {
	w := newClaimWorld(t)
	w.apply(t, paybridge.StatusPending)
	w.c.store = lostAnswerStore{w.store}
	_, err := w.c.apply(t.Context(), claimPayment, paybridge.Result{Status: paybridge.StatusPaid}, w.clock.Now())
	if paybridge.ErrorCode(err) != paybridge.CodeInternal {
		t.Fatalf("error %v, want internal", err)
	}
	w.c.store = w.store
	claim := w.stored(t)
	if claim.Status != paybridge.StatusPaid || claim.Published {
		t.Fatalf("stored %+v", claim)
	}
	w.reconcileNow(t)
	if !w.announced(claim.EventID) {
		t.Fatalf("claim %s never announced: announced %v", claim.EventID, w.ann.ids())
	}
}

// A check that runs out of time waiting for another instance's claim is
// not told the provider timed out: the provider answered.
func TestWaitingForAnotherClaimIsNotAProviderTimeout(t *testing.T) {
	w := newClaimWorld(t)
	w.claimByOther(t, paybridge.StatusPending, w.clock.Now())
	// The check's deadline passes long before the 20 s it would wait.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := w.c.apply(ctx, claimPayment, paybridge.Result{Status: paybridge.StatusPaid}, w.clock.Now())
	if code := paybridge.ErrorCode(err); code != paybridge.CodeInternal {
		t.Fatalf("code %s (%v), want internal", code, err)
	}
}

// applyDated applies an answer the provider dated at the given minute
// past ten.
func (w *claimWorld) applyDated(t *testing.T, status paybridge.Status, minute int) observation {
	t.Helper()
	res := paybridge.Result{Status: status, ProviderStatus: string(status),
		UpdatedAt: time.Date(2026, 1, 2, 10, minute, 0, 0, time.UTC)}
	obs, err := w.c.apply(t.Context(), claimPayment, res, w.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return obs
}

// An answer the provider dated before the status stored never replaces
// it, however late it arrives: it is a stale read, and needs no second
// question (the dates say which answer is the latest).
func TestClaimAnswerDatedBeforeTheStoredStatusIsStale(t *testing.T) {
	w := newClaimWorld(t)
	w.applyDated(t, paybridge.StatusPending, 0)
	w.applyDated(t, paybridge.StatusPaid, 6)
	writes, events := w.store.last, len(w.ann.ids())
	obs := w.applyDated(t, paybridge.StatusExpired, 5)
	if !obs.stale || obs.changed || obs.recheck || w.store.last != writes || len(w.ann.ids()) != events {
		t.Fatalf("answer dated 10:05 after paid dated 10:06: %+v", obs)
	}
	if got := w.stored(t).Status; got != paybridge.StatusPaid {
		t.Fatalf("stored %s, want paid", got)
	}
	if obs := w.applyDated(t, paybridge.StatusRefunded, 7); !obs.changed {
		t.Fatalf("an answer dated after the stored status is a change: %+v", obs)
	}
}

// claimPublishedByOther stores a published claim of status, as another
// instance leaves it once it announced it.
func (w *claimWorld) claimPublishedByOther(t *testing.T, status paybridge.Status) {
	t.Helper()
	stored, rev, _, _ := w.store.Get(t.Context(), claimKey)
	rec := newRecord(claimPayment, paybridge.Result{Status: status}, &stored.Status, rev, w.clock.Now())
	rec.Revision, rec.Published = rev+1, true // the revision of the claim's write
	if _, err := w.store.Put(t.Context(), claimKey, rec, rev); err != nil {
		t.Fatal(err)
	}
}

// Without dates, an answer to a call that began before a change was
// claimed may be the older one: it is not stored, and the payment is to
// be asked again, so that the provider's latest answer decides. The same
// answer to a call begun after the claim is a change.
func TestClaimUndatedAnswerToACallBegunBeforeAClaimIsStale(t *testing.T) {
	w := newClaimWorld(t)
	w.apply(t, paybridge.StatusPending)
	e, _ := w.c.view.peek(claimKey)
	before := snapshot{entry: e, found: true}
	w.claimPublishedByOther(t, paybridge.StatusPaid) // while the call runs

	expired := paybridge.Result{Status: paybridge.StatusExpired, ProviderStatus: "EXPIRED"}
	obs, err := w.c.applySince(t.Context(), claimPayment, claimPayment.Key(), expired, w.clock.Now(), &before)
	if err != nil {
		t.Fatal(err)
	}
	if !obs.stale || obs.changed || !obs.recheck || w.stored(t).Status != paybridge.StatusPaid {
		t.Fatalf("undated answer of a call begun before paid was claimed: %+v", obs)
	}
	current, rev, _, _ := w.store.Get(t.Context(), claimKey)
	after := snapshot{entry: entryOf(current, rev), found: true}
	if obs, err = w.c.applySince(t.Context(), claimPayment, claimPayment.Key(), expired, w.clock.Now(), &after); err != nil {
		t.Fatal(err)
	}
	if !obs.changed || obs.recheck || *obs.current.PreviousStatus != paybridge.StatusPaid {
		t.Fatalf("the same answer of a call begun after paid was claimed: %+v", obs)
	}
}
