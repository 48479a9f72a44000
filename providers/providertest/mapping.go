package providertest

import (
	"context"
	"fmt"
	"testing"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers/fake"
)

// MappingRow is one row of a provider's status table: its raw words and
// the status they mean.
type MappingRow struct {
	Status, Detail string
	Want           paybridge.Status
}

// CheckNormalize checks each row against the provider's Normalize.
func CheckNormalize(t *testing.T, normalize func(status, detail string) paybridge.Status, rows []MappingRow) {
	t.Helper()
	for _, r := range rows {
		if got := normalize(r.Status, r.Detail); got != r.Want {
			t.Errorf("Normalize(%q, %q) = %s, want %s", r.Status, r.Detail, got, r.Want)
		}
	}
}

// CheckMappingOverHTTP serves each row from the fake and checks the
// client maps it and keeps the raw words.
func CheckMappingOverHTTP(t *testing.T, h Harness, rows []MappingRow) {
	t.Helper()
	fx := h.Start(t)
	for i, r := range rows {
		id := fmt.Sprintf("map-%d", i)
		fx.Add(t, id, fake.Step{Status: r.Status, Detail: r.Detail})
		got, err := fx.Client.Check(context.Background(), id)
		if err != nil {
			t.Fatalf("%s %q: %v", r.Status, r.Detail, err)
		}
		if got.Status != r.Want || got.ProviderStatus != r.Status || got.ProviderStatusDetail != r.Detail {
			t.Errorf("%s %q: got %s (%q, %q), want %s with the raw words kept", r.Status, r.Detail, got.Status, got.ProviderStatus, got.ProviderStatusDetail, r.Want)
		}
	}
}
