// Package paybridge is the domain of the payment status bridge: the
// normalized payment Status, the Result of asking a provider, the Provider
// interface, the coded Error every layer speaks, and the replies of the
// check and lookup requests. It depends on nothing but the standard
// library; docs/contract.md is the contract it describes.
package paybridge

// Status is the normalized payment status shared by every provider.
type Status string

// The nine normalized statuses of the contract.
const (
	StatusPending   Status = "pending"
	StatusUnderpaid Status = "underpaid"
	StatusPaid      Status = "paid"
	StatusOverpaid  Status = "overpaid"
	StatusExpired   Status = "expired"
	StatusCanceled  Status = "canceled"
	StatusFailed    Status = "failed"
	StatusRefunded  Status = "refunded"
	// StatusUnknown means the provider used words the mapping table does not
	// know. It is never stored or published.
	StatusUnknown Status = "unknown"
)

// Statuses lists every normalized status, in the contract's order.
var Statuses = []Status{
	StatusPending, StatusUnderpaid, StatusPaid, StatusOverpaid, StatusExpired,
	StatusCanceled, StatusFailed, StatusRefunded, StatusUnknown,
}

// Terminal reports whether a payment in this status is settled: no further
// change is expected except a terminal-to-terminal one (paid → refunded).
func (s Status) Terminal() bool {
	switch s {
	case StatusPaid, StatusOverpaid, StatusExpired, StatusCanceled, StatusFailed, StatusRefunded:
		return true
	}
	return false
}

// Valid reports whether s is one of the nine normalized statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}
