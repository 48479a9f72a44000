package all_test

import (
	"strings"
	"testing"

	"github.com/paybridge/paybridge/providers/all"
	"github.com/paybridge/paybridge/providers/providertest"
)

// TestEveryProvider runs the descriptor checks on every provider listed:
// the checklist of docs/adding-a-provider.md, beside each provider's own
// transport, mapping and fuzz tests.
func TestEveryProvider(t *testing.T) {
	for _, d := range all.List {
		t.Run(d.Name, func(t *testing.T) { providertest.CheckDescriptor(t, d) })
	}
}

// Names and simulator paths are unique: the providers share serve's flags
// and paysim's port.
func TestProvidersDoNotClash(t *testing.T) {
	for i, a := range all.List {
		for _, b := range all.List[i+1:] {
			if a.Name == b.Name {
				t.Errorf("two providers are called %q", a.Name)
			}
			if strings.HasPrefix(a.Sim.PathPrefix, b.Sim.PathPrefix) || strings.HasPrefix(b.Sim.PathPrefix, a.Sim.PathPrefix) {
				t.Errorf("%s's fake at %s and %s's at %s would share paths on paysim's port", a.Name, a.Sim.PathPrefix, b.Name, b.Sim.PathPrefix)
			}
		}
	}
	for _, d := range all.List {
		if got, ok := all.Lookup(d.Name); !ok || got.Name != d.Name {
			t.Errorf("Lookup(%q) = %q, %v", d.Name, got.Name, ok)
		}
	}
	if _, ok := all.Lookup("nope"); ok {
		t.Error("Lookup found a provider that is not listed")
	}
}
