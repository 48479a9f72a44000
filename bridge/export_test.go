package bridge

// SetAfterClaim installs a hook that runs between a change's claim in the
// store and its publish; an error there stops the check as a crash would.
func (b *Bridge) SetAfterClaim(hook func(Record) error) { b.checker.afterClaim = hook }

// PutView places a record in the bridge's view, as a lagging watch might.
func (b *Bridge) PutView(key string, rec Record, rev uint64) { b.checker.view.put(key, rec, rev) }
