package paybridge

import (
	"context"
	"time"
)

// Result is what a provider said about one payment, already normalized.
// Amounts are decimal strings exactly as the provider wrote the numbers.
type Result struct {
	Status Status
	// ProviderStatus and ProviderStatusDetail are the provider's raw words,
	// e.g. "FAILED" / "Timeout" or "pending" / "underpaid".
	ProviderStatus       string
	ProviderStatusDetail string
	Amount               string
	Currency             string
	AmountPaid           string
	// CryptoAmount and CryptoCurrency are what the payer is asked to send
	// on chain, when the provider names one coin (CoinbarPay's
	// destination_amount and destination_coin).
	CryptoAmount   string
	CryptoCurrency string
	// UpdatedAt is the provider's own last-modified time; zero when absent,
	// else within the years a payment can be dated (Dated).
	UpdatedAt time.Time
}

// The years a payment's time can fall in, in UTC: from 1970 up to, not
// including, 2200. A provider's time outside them is a lie the bridge
// refuses (provider_bad_response): answers are ordered by their times as
// nanosecond counts, which wrap outside 1678–2262 (a late answer would
// pass for a newer one), and a record dated past 9999 cannot be stored.
var (
	earliestTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	timeBound    = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Dated reports whether t lies in the years a payment's time can fall in.
func Dated(t time.Time) bool { return !t.Before(earliestTime) && t.Before(timeBound) }

// Provider asks one payment provider for the status of one payment.
//
// Check returns a Result whose Status is one of the nine normalized values
// (StatusUnknown when the raw words are not in the mapping table), or an
// *Error whose Code says what went wrong. It must be safe for concurrent use
// and must not leak credentials into errors.
type Provider interface {
	// Name is the provider's name in requests, keys and events: "coinbar".
	Name() string
	Check(ctx context.Context, paymentID string) (Result, error)
}
