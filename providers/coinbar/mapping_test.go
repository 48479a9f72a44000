package coinbar_test

import (
	"testing"

	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/providertest"
)

// mappingRows are providers.md's CoinbarPay table, row by row, with the
// spellings the docs and Coinbar's plugin use.
var mappingRows = []providertest.MappingRow{
	{Status: "CREATED", Detail: "", Want: providers.StatusPending},
	{Status: "PENDING", Detail: "", Want: providers.StatusPending},
	{Status: "pending", Detail: "Waiting for payment", Want: providers.StatusPending}, // upper-cased before lookup
	{Status: "SUCCESS", Detail: "", Want: providers.StatusPaid},
	{Status: "FAILED", Detail: "Timeout", Want: providers.StatusExpired},
	{Status: "FAILED", Detail: "Failed - Timeout", Want: providers.StatusExpired},
	{Status: "FAILED", Detail: "PAYMENT TIMEOUT", Want: providers.StatusExpired},
	{Status: "FAILED", Detail: "Refund", Want: providers.StatusRefunded},
	{Status: "FAILED", Detail: "Failed - Refund", Want: providers.StatusRefunded},
	{Status: "Failed", Detail: "partial payment refunded", Want: providers.StatusRefunded},
	{Status: "FAILED", Detail: "", Want: providers.StatusFailed},
	{Status: "FAILED", Detail: "Payment error", Want: providers.StatusFailed},
	{Status: "CANCELED", Detail: "Canceled by client request", Want: providers.StatusCanceled},
	{Status: "CANCELLED", Detail: "", Want: providers.StatusCanceled},
	{Status: "EXPIRED", Detail: "", Want: providers.StatusUnknown},
	{Status: "PAID", Detail: "", Want: providers.StatusUnknown},
	{Status: "SUCCESSFUL", Detail: "", Want: providers.StatusUnknown},
	{Status: "REFUNDED", Detail: "", Want: providers.StatusUnknown},
}

func TestNormalizeTable(t *testing.T) {
	providertest.CheckNormalize(t, coinbar.Normalize, mappingRows)
}

func TestMappingOverHTTP(t *testing.T) {
	providertest.CheckMappingOverHTTP(t, harness(testSecretKey), mappingRows)
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
