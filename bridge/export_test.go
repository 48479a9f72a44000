package bridge

// SetAfterClaim installs a hook that runs between a change's claim in the
// store and its publish; an error there stops the check as a crash would.
func (b *Bridge) SetAfterClaim(hook func(Record) error) { b.checker.afterClaim = hook }
