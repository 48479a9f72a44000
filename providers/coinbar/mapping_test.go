package coinbar_test

import (
	"context"
	"testing"

	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/fake"
)

// mappingRows are providers.md's CoinbarPay table, row by row, with the
// spellings the docs and Coinbar's plugin use.
var mappingRows = []struct {
	status, descr string
	want          providers.Status
}{
	{"CREATED", "", providers.StatusPending},
	{"PENDING", "", providers.StatusPending},
	{"pending", "Waiting for payment", providers.StatusPending}, // upper-cased before lookup
	{"SUCCESS", "", providers.StatusPaid},
	{"FAILED", "Timeout", providers.StatusExpired},
	{"FAILED", "Failed - Timeout", providers.StatusExpired},
	{"FAILED", "PAYMENT TIMEOUT", providers.StatusExpired},
	{"FAILED", "Refund", providers.StatusRefunded},
	{"FAILED", "Failed - Refund", providers.StatusRefunded},
	{"Failed", "partial payment refunded", providers.StatusRefunded},
	{"FAILED", "", providers.StatusFailed},
	{"FAILED", "Payment error", providers.StatusFailed},
	{"CANCELED", "Canceled by client request", providers.StatusCanceled},
	{"CANCELLED", "", providers.StatusCanceled},
	{"EXPIRED", "", providers.StatusUnknown},
	{"PAID", "", providers.StatusUnknown},
	{"SUCCESSFUL", "", providers.StatusUnknown},
	{"REFUNDED", "", providers.StatusUnknown},
}

func TestNormalizeTable(t *testing.T) {
	for _, r := range mappingRows {
		if got := coinbar.Normalize(r.status, r.descr); got != r.want {
			t.Errorf("Normalize(%q, %q) = %s, want %s", r.status, r.descr, got, r.want)
		}
	}
}

func TestMappingOverHTTP(t *testing.T) {
	fx := newFixture(t, testSecretKey)
	for i, r := range mappingRows {
		id := "map-" + string(rune('a'+i))
		fx.add(t, id, fake.Step{Status: r.status, Detail: r.descr})
		got, err := fx.client.Check(context.Background(), id)
		if err != nil {
			t.Fatalf("%s %q: %v", r.status, r.descr, err)
		}
		if got.Status != r.want || got.ProviderStatus != r.status || got.ProviderStatusDetail != r.descr {
			t.Errorf("%s %q: got %s (%q, %q), want %s with the raw words kept", r.status, r.descr, got.Status, got.ProviderStatus, got.ProviderStatusDetail, r.want)
		}
	}
}

// Every status and descr the docs name is classified; nothing falls
// through to unknown.
func TestEveryDocumentedValueIsClassified(t *testing.T) {
	statuses := []string{"CREATED", "PENDING", "SUCCESS", "FAILED", "CANCELED", "CANCELLED"}
	descrs := []string{"", "Timeout", "Refund", "Failed - Timeout", "Failed - Refund", "Canceled by client request"}
	for _, s := range statuses {
		for _, d := range descrs {
			if got := coinbar.Normalize(s, d); got == providers.StatusUnknown || !got.Valid() {
				t.Errorf("Normalize(%q, %q) = %s", s, d, got)
			}
		}
	}
}

func TestUndocumentedWordsAreUnknown(t *testing.T) {
	for _, s := range []string{"", "EXPIRED", "COMPLETED", "APPROVED", "SUCCEEDED", "FAIL", "PENDING_PAYMENT", "REFUNDED", "TIMEOUT"} {
		if got := coinbar.Normalize(s, "Timeout"); got != providers.StatusUnknown {
			t.Errorf("Normalize(%q) = %s, want unknown: never guess", s, got)
		}
	}
}
