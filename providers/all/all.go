// Package all lists the providers paybridge knows. Everything that serves,
// simulates, measures or documents every provider (cmd/, the tests of
// deploy/ and the docs) iterates List and names none of them; adding a
// provider is its package and one line here (docs/adding-a-provider.md).
package all

import (
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/muvinai"
)

// List is every provider, in the order of the banners, the demo's checks
// and paybench's payments.
var List = []providers.Descriptor{
	coinbar.Descriptor,
	muvinai.Descriptor,
}

// Lookup returns the provider called name.
func Lookup(name string) (providers.Descriptor, bool) {
	for _, d := range List {
		if d.Name == name {
			return d, true
		}
	}
	return providers.Descriptor{}, false
}
