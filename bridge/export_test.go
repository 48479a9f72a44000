package bridge

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
)

// SetAfterClaim installs a hook that runs between a change's claim in the
// store and its publish; an error there stops the check as a crash would.
func (b *Bridge) SetAfterClaim(hook func(Record) error) { b.checker.claims.afterClaim = hook }

// ForceView sets what the bridge's view holds for key, whatever it held:
// the view of an instance whose bucket watch lags.
func (b *Bridge) ForceView(key string, rec Record, rev uint64) {
	v := b.checker.claims.view
	v.mu.Lock()
	defer v.mu.Unlock()
	v.lru.Add(key, entryOf(rec, rev))
}

// Redeliver hands the bucket's current entry for key to the follower, as
// its watch of the bucket does when it catches up.
func (b *Bridge) Redeliver(ctx context.Context, key string) error {
	kv, err := b.follower.js.KeyValue(ctx, b.cfg.Bucket)
	if err != nil {
		return err
	}
	entry, err := kv.Get(ctx, key)
	if err != nil {
		return err
	}
	return b.follower.note(ctx, bucketUpdate{key: key, value: entry.Value(), revision: entry.Revision(), created: entry.Created()})
}

// WatchedRevision is the bucket revision the follower's watch delivered
// last.
func (b *Bridge) WatchedRevision() uint64 { return b.follower.seen.Load() }

// OpenOutbox opens (creating it when missing) the outbox of cfg, as a
// bridge does.
func OpenOutbox(ctx context.Context, js jetstream.JetStream, cfg Config) (Outbox, error) {
	cfg = cfg.withDefaults()
	s, err := ensureOutbox(ctx, js, cfg)
	if err != nil {
		return nil, err
	}
	return &streamOutbox{js: js, stream: s, subject: cfg.OutboxSubject}, nil
}
