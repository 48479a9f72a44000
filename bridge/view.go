package bridge

import (
	"sync"
	"time"

	"github.com/paybridge/paybridge"
)

// view is this instance's copy of the status bucket: the last record and
// revision it knows per payment, kept current by the reconciler's watch of
// the bucket and by this instance's own writes. Checks read it instead of
// asking KV, so the common check (status unchanged) costs no round trip.
//
// A view may lag the bucket by the watch's delay. That can never cause a
// wrong or a duplicate event: every write is still a compare-and-set on the
// revision the view gave, a lost race re-reads KV itself, and a change
// found unpublished is confirmed in KV before it is published. A check
// that found "no change" against a lagging view is applied again when the
// watch delivers what it missed (follow): the payment is asked again. A
// reply within that delay may describe the record just before.
type view struct {
	mu    sync.RWMutex
	limit int
	m     map[string]viewEntry
}

// viewEntry is a record at a revision, and when this instance last heard
// the provider confirm it (unchanged statuses are not written back, as
// docs/contract.md, "Claim steps", asks, so the record's own time says only when it changed).
type viewEntry struct {
	rec       Record
	rev       uint64
	confirmed time.Time
	// confirmedAs is the status the provider gave at confirmed.
	confirmedAs paybridge.Status
}

func newView(limit int) *view {
	return &view{limit: limit, m: make(map[string]viewEntry)}
}

// get returns what the view holds for key.
func (v *view) get(key string) (viewEntry, bool) {
	v.mu.RLock()
	e, ok := v.m[key]
	v.mu.RUnlock()
	return e, ok
}

// put records rec at rev unless the view already holds a later revision.
func (v *view) put(key string, rec Record, rev uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.putLocked(key, rec, rev)
}

func (v *view) putLocked(key string, rec Record, rev uint64) {
	old, ok := v.m[key]
	switch {
	case ok && old.rev > rev:
		return
	case ok && old.rev == rev:
		old.rec = rec
		v.m[key] = old
		return
	case !ok && len(v.m) >= v.limit:
		v.shrink()
	}
	v.m[key] = viewEntry{rec: rec, rev: rev}
}

// confirm notes that the provider, saying status at at, found no change to
// the record at rev.
func (v *view) confirm(key string, rev uint64, at time.Time, status paybridge.Status) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e, ok := v.m[key]; ok && e.rev == rev && at.After(e.confirmed) {
		e.confirmed, e.confirmedAs = at, status
		v.m[key] = e
	}
}

// follow records a revision the bucket's watch delivered, written at
// created. It reports whether a check found "no change" against an older
// revision after that write was made, with a status other than the new
// record's: that check compared with a record already replaced, and the
// payment needs asking again.
func (v *view) follow(key string, rec Record, rev uint64, created time.Time) (missed bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	old, ok := v.m[key]
	missed = ok && old.rev < rev && old.confirmed.After(created) && old.confirmedAs != rec.Status
	v.putLocked(key, rec, rev)
	return missed
}

// checkedAt is when the provider last confirmed the entry's status: its
// observation, or a later confirmation.
func (e viewEntry) checkedAt() time.Time {
	if e.confirmed.After(e.rec.ObservedAt) {
		return e.confirmed
	}
	return e.rec.ObservedAt
}

// shrink forgets about half the entries, chosen by map order: cheap, and a
// forgotten payment costs one KV read when it is next checked.
func (v *view) shrink() {
	n := len(v.m) / 2
	for k := range v.m {
		if n == 0 {
			return
		}
		delete(v.m, k)
		n--
	}
}
