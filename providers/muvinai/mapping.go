package muvinai

import (
	"slices"
	"strings"

	"github.com/paybridge/paybridge"
)

// rule is one row of the mapping table: raw statuses and status_details
// (lower case; no details means any detail).
type rule struct {
	statuses []string
	details  []string
	status   paybridge.Status
}

// table is Muvinai's mapping, row for row as in docs/providers.md ("Muvinai status mapping"); the first
// matching row wins. Sources: the docs' status-query page (statuses
// pending, approved, refunded, canceled, expired; details correct,
// underpaid, overpaid, not_paid) and the merchant-settings page, which
// calls the expired state "timeout". "" is a missing or null detail.
// Approved with not_paid, or any undocumented pair, is unknown: never
// guess paid.
var table = []rule{
	{statuses: []string{"pending"}, details: []string{"not_paid", ""}, status: paybridge.StatusPending},
	{statuses: []string{"pending"}, details: []string{"underpaid"}, status: paybridge.StatusUnderpaid},
	{statuses: []string{"pending"}, details: []string{"correct", "overpaid"}, status: paybridge.StatusPending},
	{statuses: []string{"approved"}, details: []string{"correct", ""}, status: paybridge.StatusPaid},
	{statuses: []string{"approved"}, details: []string{"overpaid"}, status: paybridge.StatusOverpaid},
	{statuses: []string{"approved"}, details: []string{"underpaid"}, status: paybridge.StatusUnderpaid},
	{statuses: []string{"expired", "timeout"}, status: paybridge.StatusExpired},
	{statuses: []string{"canceled", "cancelled"}, status: paybridge.StatusCanceled},
	{statuses: []string{"refunded"}, status: paybridge.StatusRefunded},
}

// Normalize maps Muvinai's raw status and status_detail onto the
// normalized status, StatusUnknown when the table does not know them.
func Normalize(status, detail string) paybridge.Status {
	status = strings.ToLower(strings.TrimSpace(status))
	detail = strings.ToLower(strings.TrimSpace(detail))
	for _, r := range table {
		if slices.Contains(r.statuses, status) && (r.details == nil || slices.Contains(r.details, detail)) {
			return r.status
		}
	}
	return paybridge.StatusUnknown
}
