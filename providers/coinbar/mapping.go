package coinbar

import (
	"slices"
	"strings"

	"github.com/paybridge/paybridge"
)

// rule is one row of the mapping table: raw statuses (upper case) and a
// word the status_descr must contain (lower case; "" matches any descr).
type rule struct {
	statuses      []string
	descrContains string
	status        paybridge.Status
}

// table is CoinbarPay's mapping, row for row as in docs/providers.md ("CoinbarPay status mapping"); the first
// matching row wins. Sources: the docs' payment-statuses page (Pending,
// Success, "Failed - Refund", "Failed - Timeout") and the wire values
// Coinbar's own plugin accepts (CREATED, PENDING, SUCCESS, FAILED,
// CANCELED). Anything else is unknown: never guess failed or paid.
var table = []rule{
	{statuses: []string{"CREATED", "PENDING"}, status: paybridge.StatusPending},
	{statuses: []string{"SUCCESS"}, status: paybridge.StatusPaid},
	{statuses: []string{"FAILED"}, descrContains: "timeout", status: paybridge.StatusExpired},
	{statuses: []string{"FAILED"}, descrContains: "refund", status: paybridge.StatusRefunded},
	{statuses: []string{"FAILED"}, status: paybridge.StatusFailed},
	{statuses: []string{"CANCELED", "CANCELLED"}, status: paybridge.StatusCanceled},
}

// Normalize maps CoinbarPay's raw status and status_descr onto the
// normalized status, StatusUnknown when the table does not know them.
func Normalize(status, descr string) paybridge.Status {
	status = strings.ToUpper(strings.TrimSpace(status))
	descr = strings.ToLower(descr)
	for _, r := range table {
		if slices.Contains(r.statuses, status) && strings.Contains(descr, r.descrContains) {
			return r.status
		}
	}
	return paybridge.StatusUnknown
}
