package providertest

import (
	"context"
	"fmt"
	"testing"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers/fake"
)

// MappingRow is one row of a provider's status table: its raw words and
// the status they mean. Detail is the second word of a provider that has
// one (a status_detail, say), empty for one whose status is one word.
type MappingRow struct {
	Status, Detail string
	Want           paybridge.Status
}

// Normalizer is a provider's mapping: of a status and its detail, or of a
// status that is one word.
type Normalizer interface {
	func(status, detail string) paybridge.Status | func(status string) paybridge.Status
}

// CheckNormalize checks each row against the provider's Normalize. The
// rows of a provider whose status is one word have no Detail.
func CheckNormalize[N Normalizer](t *testing.T, normalize N, rows []MappingRow) {
	t.Helper()
	for _, r := range rows {
		var got paybridge.Status
		switch n := any(normalize).(type) {
		case func(status, detail string) paybridge.Status:
			got = n(r.Status, r.Detail)
		case func(status string) paybridge.Status:
			if r.Detail != "" {
				t.Errorf("row %q, %q: a status of one word has no detail", r.Status, r.Detail)
				continue
			}
			got = n(r.Status)
		}
		if got != r.Want {
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
