package muvinai_test

import (
	"testing"

	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/muvinai"
	"github.com/paybridge/paybridge/providers/providertest"
)

// mappingRows are providers.md's Muvinai table, row by row.
var mappingRows = []providertest.MappingRow{
	{Status: "pending", Detail: "not_paid", Want: providers.StatusPending},
	{Status: "pending", Detail: "", Want: providers.StatusPending},
	{Status: "pending", Detail: "underpaid", Want: providers.StatusUnderpaid},
	{Status: "pending", Detail: "correct", Want: providers.StatusPending},
	{Status: "pending", Detail: "overpaid", Want: providers.StatusPending},
	{Status: "approved", Detail: "correct", Want: providers.StatusPaid},
	{Status: "approved", Detail: "", Want: providers.StatusPaid},
	{Status: "APPROVED", Detail: "Correct", Want: providers.StatusPaid}, // lower-cased before lookup
	{Status: "approved", Detail: "overpaid", Want: providers.StatusOverpaid},
	{Status: "approved", Detail: "underpaid", Want: providers.StatusUnderpaid},
	{Status: "expired", Detail: "not_paid", Want: providers.StatusExpired},
	{Status: "expired", Detail: "underpaid", Want: providers.StatusExpired},
	{Status: "expired", Detail: "", Want: providers.StatusExpired},
	{Status: "timeout", Detail: "not_paid", Want: providers.StatusExpired},
	{Status: "canceled", Detail: "not_paid", Want: providers.StatusCanceled},
	{Status: "cancelled", Detail: "", Want: providers.StatusCanceled},
	{Status: "refunded", Detail: "correct", Want: providers.StatusRefunded},
	{Status: "refunded", Detail: "", Want: providers.StatusRefunded},
	{Status: "approved", Detail: "not_paid", Want: providers.StatusUnknown},
	{Status: "approved", Detail: "partial", Want: providers.StatusUnknown},
	{Status: "pending", Detail: "partial", Want: providers.StatusUnknown},
	{Status: "completed", Detail: "correct", Want: providers.StatusUnknown},
	{Status: "paid", Detail: "", Want: providers.StatusUnknown},
	{Status: "failed", Detail: "", Want: providers.StatusUnknown},
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
				if got != providers.StatusUnknown {
					t.Errorf("approved/not_paid = %s, want unknown: approved without funds is a contradiction", got)
				}
				continue
			}
			if got == providers.StatusUnknown || !got.Valid() {
				t.Errorf("Normalize(%q, %q) = %s", s, d, got)
			}
		}
	}
}

func TestUndocumentedWordsAreUnknown(t *testing.T) {
	for _, s := range []string{"", "paid", "completed", "success", "failed", "rejected", "approved_partial"} {
		if got := muvinai.Normalize(s, "correct"); got != providers.StatusUnknown {
			t.Errorf("Normalize(%q) = %s, want unknown: never guess", s, got)
		}
	}
}
