package coinbar_test

import (
	"testing"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/providertest"
)

// mappingRows are docs/providers.md's CoinbarPay table, row by row, with the
// spellings the docs and Coinbar's plugin use.
var mappingRows = []providertest.MappingRow{
	{Status: "CREATED", Detail: "", Want: paybridge.StatusPending},
	{Status: "PENDING", Detail: "", Want: paybridge.StatusPending},
	{Status: "pending", Detail: "Waiting for payment", Want: paybridge.StatusPending}, // upper-cased before lookup
	{Status: "SUCCESS", Detail: "", Want: paybridge.StatusPaid},
	{Status: "FAILED", Detail: "Timeout", Want: paybridge.StatusExpired},
	{Status: "FAILED", Detail: "Failed - Timeout", Want: paybridge.StatusExpired},
	{Status: "FAILED", Detail: "PAYMENT TIMEOUT", Want: paybridge.StatusExpired},
	{Status: "FAILED", Detail: "Refund", Want: paybridge.StatusRefunded},
	{Status: "FAILED", Detail: "Failed - Refund", Want: paybridge.StatusRefunded},
	{Status: "Failed", Detail: "partial payment refunded", Want: paybridge.StatusRefunded},
	{Status: "FAILED", Detail: "", Want: paybridge.StatusFailed},
	{Status: "FAILED", Detail: "Payment error", Want: paybridge.StatusFailed},
	{Status: "CANCELED", Detail: "Canceled by client request", Want: paybridge.StatusCanceled},
	{Status: "CANCELLED", Detail: "", Want: paybridge.StatusCanceled},
	{Status: "EXPIRED", Detail: "", Want: paybridge.StatusUnknown},
	{Status: "PAID", Detail: "", Want: paybridge.StatusUnknown},
	{Status: "SUCCESSFUL", Detail: "", Want: paybridge.StatusUnknown},
	{Status: "REFUNDED", Detail: "", Want: paybridge.StatusUnknown},
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
			if got := coinbar.Normalize(s, d); got == paybridge.StatusUnknown || !got.Valid() {
				t.Errorf("Normalize(%q, %q) = %s", s, d, got)
			}
		}
	}
}

func TestUndocumentedWordsAreUnknown(t *testing.T) {
	for _, s := range []string{"", "EXPIRED", "COMPLETED", "APPROVED", "SUCCEEDED", "FAIL", "PENDING_PAYMENT", "REFUNDED", "TIMEOUT"} {
		if got := coinbar.Normalize(s, "Timeout"); got != paybridge.StatusUnknown {
			t.Errorf("Normalize(%q) = %s, want unknown: never guess", s, got)
		}
	}
}
