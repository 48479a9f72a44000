package muvinai_test

import (
	"testing"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers/muvinai"
	"github.com/paybridge/paybridge/providers/providertest"
)

// mappingRows are docs/providers.md's Muvinai table, row by row.
var mappingRows = []providertest.MappingRow{
	{Status: "pending", Detail: "not_paid", Want: paybridge.StatusPending},
	{Status: "pending", Detail: "", Want: paybridge.StatusPending},
	{Status: "pending", Detail: "underpaid", Want: paybridge.StatusUnderpaid},
	{Status: "pending", Detail: "correct", Want: paybridge.StatusPending},
	{Status: "pending", Detail: "overpaid", Want: paybridge.StatusPending},
	{Status: "approved", Detail: "correct", Want: paybridge.StatusPaid},
	{Status: "approved", Detail: "", Want: paybridge.StatusPaid},
	{Status: "APPROVED", Detail: "Correct", Want: paybridge.StatusPaid}, // lower-cased before lookup
	{Status: "approved", Detail: "overpaid", Want: paybridge.StatusOverpaid},
	{Status: "approved", Detail: "underpaid", Want: paybridge.StatusUnderpaid},
	{Status: "expired", Detail: "not_paid", Want: paybridge.StatusExpired},
	{Status: "expired", Detail: "underpaid", Want: paybridge.StatusExpired},
	{Status: "expired", Detail: "", Want: paybridge.StatusExpired},
	{Status: "timeout", Detail: "not_paid", Want: paybridge.StatusExpired},
	{Status: "canceled", Detail: "not_paid", Want: paybridge.StatusCanceled},
	{Status: "cancelled", Detail: "", Want: paybridge.StatusCanceled},
	{Status: "refunded", Detail: "correct", Want: paybridge.StatusRefunded},
	{Status: "refunded", Detail: "", Want: paybridge.StatusRefunded},
	{Status: "approved", Detail: "not_paid", Want: paybridge.StatusUnknown},
	{Status: "approved", Detail: "partial", Want: paybridge.StatusUnknown},
	{Status: "pending", Detail: "partial", Want: paybridge.StatusUnknown},
	{Status: "completed", Detail: "correct", Want: paybridge.StatusUnknown},
	{Status: "paid", Detail: "", Want: paybridge.StatusUnknown},
	{Status: "failed", Detail: "", Want: paybridge.StatusUnknown},
}

func TestNormalizeTable(t *testing.T) {
	providertest.CheckNormalize(t, muvinai.Normalize, mappingRows)
}

func TestMappingOverHTTP(t *testing.T) {
	providertest.CheckMappingOverHTTP(t, harness(), mappingRows)
}

// Every documented status and detail is classified, except approved with
// not_paid, which the table deliberately leaves unknown.
func TestEveryDocumentedValueIsClassified(t *testing.T) {
	statuses := []string{"pending", "approved", "refunded", "canceled", "expired", "timeout", "cancelled"}
	details := []string{"", "correct", "underpaid", "overpaid", "not_paid"}
	for _, s := range statuses {
		for _, d := range details {
			got := muvinai.Normalize(s, d)
			if s == "approved" && d == "not_paid" {
				if got != paybridge.StatusUnknown {
					t.Errorf("approved/not_paid = %s, want unknown: approved without funds is a contradiction", got)
				}
				continue
			}
			if got == paybridge.StatusUnknown || !got.Valid() {
				t.Errorf("Normalize(%q, %q) = %s", s, d, got)
			}
		}
	}
}

func TestUndocumentedWordsAreUnknown(t *testing.T) {
	for _, s := range []string{"", "paid", "completed", "success", "failed", "rejected", "approved_partial"} {
		if got := muvinai.Normalize(s, "correct"); got != paybridge.StatusUnknown {
			t.Errorf("Normalize(%q) = %s, want unknown: never guess", s, got)
		}
	}
}
