package sim

import (
	"fmt"
	"math/rand/v2"

	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/all"
)

// Generate makes n payments per provider named <prefix><provider>-0001…,
// each drawn by its provider's descriptor (Sim.Sample): pending for a
// while, then settling as real payments do. The same seed gives the same
// payments; each provider draws from a stream of its own, derived from the
// seed and its name, so that adding a provider changes no other's.
func Generate(n int, prefix string, seed uint64) Scenario {
	return generate(all.List, n, prefix, seed)
}

func generate(list []providers.Descriptor, n int, prefix string, seed uint64) Scenario {
	s := Scenario{}
	for _, d := range list {
		rng := rand.New(rand.NewPCG(seed, nameHash(d.Name)))
		for i := range n {
			s[d.Name] = append(s[d.Name], d.Sim.Sample(rng, fmt.Sprintf("%s%s-%04d", prefix, d.Name, i+1)))
		}
	}
	return s
}
