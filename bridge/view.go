package bridge

import (
	"slices"
	"sync"
	"time"

	"github.com/paybridge/paybridge"
)

// view is this instance's cache of the status bucket: for each payment a
// check has looked at lately, what a check needs of its record, kept
// current by this instance's writes and by the bucket's updates (follow).
// It starts empty, fills on demand, holds at most size entries and forgets
// the least recently used first (a forgotten payment costs one KV read
// when it is next checked). The common check, status unchanged, therefore
// costs no KV round trip.
//
// A view may lag the bucket by the watch's delay. That can never cause a
// wrong or a duplicate event: every write is still a compare-and-set on the
// revision the view gave, a lost race re-reads KV itself, and a change
// found unpublished is confirmed in KV before it is published. A check
// that found "no change" against a lagging view is applied again when the
// watch delivers what it missed (follow): the payment is asked again. A
// reply within that delay may describe the record just before.
type view struct {
	mu      sync.Mutex
	lru     *flatLRU
	metrics *metrics
}

// viewEntry is what a check needs of a payment's record at a KV revision,
// and when this instance last heard the provider confirm it (unchanged
// statuses are not written back, docs/contract.md, "Claim steps", so the
// record's own time says only when it changed). Anything else of the record
// (the provider's words, the amounts) is read from KV when a reply needs
// it: a reply from the store, a stale read.
type viewEntry struct {
	kvRevision    uint64 // the KV revision: what a compare-and-set is made against
	claimRevision uint64 // the record's own revision: its claim's, as replies give it
	// Times in Unix nanoseconds, 0 for none: a time.Time is three times
	// the size.
	watchUntil int64
	observedAt int64
	confirmed  int64
	// providerUpdatedAt is the provider's own time of the status, 0 when
	// it gave none: a later answer dated before it is late.
	providerUpdatedAt int64
	status            status
	confirmedAs       status // what the provider said at confirmed
	published         bool
}

// status is a normalized status in one byte: its index in
// paybridge.Statuses. A view entry is small so that many fit.
type status uint8

func statusOf(s paybridge.Status) status {
	for i, known := range paybridge.Statuses {
		if s == known {
			return status(i)
		}
	}
	return status(slices.Index(paybridge.Statuses, paybridge.StatusUnknown))
}

func (s status) Status() paybridge.Status { return paybridge.Statuses[s] }

func newView(size int, m *metrics) *view {
	return &view{lru: newFlatLRU(size), metrics: m}
}

// entryOf takes from rec, stored at KV revision rev, what a check needs.
func entryOf(rec Record, rev uint64) viewEntry {
	e := viewEntry{
		kvRevision:    rev,
		claimRevision: rec.Revision,
		status:        statusOf(rec.Status),
		published:     rec.Published,
		observedAt:    rec.ObservedAt.UnixNano(),
	}
	if rec.WatchUntil != nil {
		e.watchUntil = rec.WatchUntil.UnixNano()
	}
	if rec.ProviderUpdatedAt != nil {
		e.providerUpdatedAt = rec.ProviderUpdatedAt.UnixNano()
	}
	return e
}

// get returns what the view holds for key, and counts a hit or a miss.
func (v *view) get(key string) (viewEntry, bool) {
	v.mu.Lock()
	e, ok := v.lru.Get(key)
	v.mu.Unlock()
	if !ok {
		v.metrics.cacheMisses.Inc()
		return viewEntry{}, false
	}
	v.metrics.cacheHits.Inc()
	return e, true
}

// peek returns what the view holds for key without counting a lookup or
// a use: for a second look within one check.
func (v *view) peek(key string) (viewEntry, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.lru.Peek(key)
}

// confirmedAt is when the provider last confirmed the record at rev, as
// far as the view knows (false: it holds another revision or none). It
// is not a use of the payment and counts no lookup.
func (v *view) confirmedAt(key string, rev uint64) (time.Time, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.lru.Peek(key)
	if !ok || e.kvRevision != rev {
		return time.Time{}, false
	}
	return e.checkedAt(), true
}

// put records rec at rev unless the view already holds a later revision.
func (v *view) put(key string, rec Record, rev uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.putLocked(key, entryOf(rec, rev))
}

// putLocked stores e. Storing counts as a use of the payment, whether a
// check or the bucket's watch brings the record: either way it is in play.
func (v *view) putLocked(key string, e viewEntry) {
	if old, ok := v.lru.Peek(key); ok {
		switch {
		case old.kvRevision > e.kvRevision:
			return
		case old.kvRevision == e.kvRevision:
			e.confirmed, e.confirmedAs = old.confirmed, old.confirmedAs
		}
	}
	if v.lru.Add(key, e) {
		v.metrics.cacheEvictions.Inc()
	}
}

// confirm notes that the provider, saying status at at, found no change to
// the record at rev.
func (v *view) confirm(key string, rev uint64, at time.Time, status paybridge.Status) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e, ok := v.lru.Peek(key); ok && e.kvRevision == rev && at.UnixNano() > e.confirmed {
		e.confirmed, e.confirmedAs = at.UnixNano(), statusOf(status)
		v.lru.Add(key, e)
	}
}

// follow brings the entry of key, when the view holds one, up to a
// revision the bucket's watch delivered, written at created; a payment
// the view does not hold is not added: the view fills from checks. It
// reports whether a check found "no change" against an older revision
// after that write was made, with a status other than the new record's:
// that check compared with a record already replaced, and the payment
// needs asking again.
func (v *view) follow(key string, rec Record, rev uint64, created time.Time) (missed bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	old, ok := v.lru.Peek(key)
	if !ok {
		return false
	}
	missed = old.kvRevision < rev && old.confirmed > created.UnixNano() && old.confirmedAs.Status() != rec.Status
	v.putLocked(key, entryOf(rec, rev))
	return missed
}

// forget drops key, whose record the bucket no longer holds (it expired).
func (v *view) forget(key string) {
	v.mu.Lock()
	v.lru.Remove(key)
	v.mu.Unlock()
}

// len is the number of entries held.
func (v *view) len() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.lru.Len()
}

// checkedAt is when the provider last confirmed the entry's status: its
// observation, or a later confirmation.
func (e viewEntry) checkedAt() time.Time {
	return time.Unix(0, max(e.observedAt, e.confirmed)).UTC()
}

// watching reports whether a watch is in force at now.
func (e viewEntry) watching(now time.Time) bool {
	return e.watchUntil > now.UnixNano()
}
