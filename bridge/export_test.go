package bridge

import "context"

// SetAfterClaim installs a hook that runs between a change's claim in the
// store and its publish; an error there stops the check as a crash would.
func (b *Bridge) SetAfterClaim(hook func(Record) error) { b.checker.claims.afterClaim = hook }

// ForceView sets what the bridge's view holds for key, whatever it held:
// the view of an instance whose bucket watch lags.
func (b *Bridge) ForceView(key string, rec Record, rev uint64) {
	b.checker.claims.view.mu.Lock()
	defer b.checker.claims.view.mu.Unlock()
	b.checker.claims.view.m[key] = viewEntry{rec: rec, rev: rev}
}

// Redeliver hands the bucket's current entry for key to the reconciler, as
// its watch does when it catches up.
func (b *Bridge) Redeliver(ctx context.Context, key string) error {
	entry, err := b.reconciler.kv.Get(ctx, key)
	if err != nil {
		return err
	}
	_, err = b.reconciler.note(ctx, entry)
	return err
}

// WatchedRevision is the bucket revision the reconciler's watch delivered
// last.
func (b *Bridge) WatchedRevision() uint64 { return b.reconciler.seen.Load() }
