package bridge

import "github.com/paybridge/paybridge"

// verdict is what a provider's answer means for the stored status.
type verdict int

const (
	// verdictUnknown: words the mapping table does not know; nothing is
	// stored or published.
	verdictUnknown verdict = iota
	// verdictSame: the stored status holds; nothing is written.
	verdictSame
	// verdictStale: a settled payment reported unsettled again, a stale
	// read; the stored status stays.
	verdictStale
	// verdictChange: a new status to claim and announce.
	verdictChange
)

// judge applies the transition guard to a provider answer next, given the
// stored status (when found). Terminal to terminal (paid → refunded) is a
// real change.
func judge(found bool, stored, next paybridge.Status) verdict {
	switch {
	case next == paybridge.StatusUnknown:
		return verdictUnknown
	case !found:
		return verdictChange
	case stored == next:
		return verdictSame
	case stored.Terminal() && !next.Terminal():
		return verdictStale
	}
	return verdictChange
}
