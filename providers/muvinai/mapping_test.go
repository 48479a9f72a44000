package muvinai_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/fake"
	"github.com/paybridge/paybridge/providers/muvinai"
)

// mappingRows are providers.md's Muvinai table, row by row.
var mappingRows = []struct {
	status, detail string
	want           providers.Status
}{
	{"pending", "not_paid", providers.StatusPending},
	{"pending", "", providers.StatusPending},
	{"pending", "underpaid", providers.StatusUnderpaid},
	{"pending", "correct", providers.StatusPending},
	{"pending", "overpaid", providers.StatusPending},
	{"approved", "correct", providers.StatusPaid},
	{"approved", "", providers.StatusPaid},
	{"APPROVED", "Correct", providers.StatusPaid}, // lower-cased before lookup
	{"approved", "overpaid", providers.StatusOverpaid},
	{"approved", "underpaid", providers.StatusUnderpaid},
	{"expired", "not_paid", providers.StatusExpired},
	{"expired", "underpaid", providers.StatusExpired},
	{"expired", "", providers.StatusExpired},
	{"timeout", "not_paid", providers.StatusExpired},
	{"canceled", "not_paid", providers.StatusCanceled},
	{"cancelled", "", providers.StatusCanceled},
	{"refunded", "correct", providers.StatusRefunded},
	{"refunded", "", providers.StatusRefunded},
	{"approved", "not_paid", providers.StatusUnknown},
	{"approved", "partial", providers.StatusUnknown},
	{"pending", "partial", providers.StatusUnknown},
	{"completed", "correct", providers.StatusUnknown},
	{"paid", "", providers.StatusUnknown},
	{"failed", "", providers.StatusUnknown},
}

func TestNormalizeTable(t *testing.T) {
	for _, r := range mappingRows {
		if got := muvinai.Normalize(r.status, r.detail); got != r.want {
			t.Errorf("Normalize(%q, %q) = %s, want %s", r.status, r.detail, got, r.want)
		}
	}
}

func TestMappingOverHTTP(t *testing.T) {
	fx := newFixture(t)
	for i, r := range mappingRows {
		id := fmt.Sprintf("map-%d", i)
		fx.add(t, id, fake.Step{Status: r.status, Detail: r.detail})
		got, err := fx.client.Check(context.Background(), id)
		if err != nil {
			t.Fatalf("%s/%s: %v", r.status, r.detail, err)
		}
		if got.Status != r.want || got.ProviderStatus != r.status || got.ProviderStatusDetail != r.detail {
			t.Errorf("%s/%q: got %s (%q, %q), want %s with the raw words kept", r.status, r.detail, got.Status, got.ProviderStatus, got.ProviderStatusDetail, r.want)
		}
	}
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
