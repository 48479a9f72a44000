package sim

import (
	"fmt"
	"math/rand/v2"

	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/all"
	"github.com/paybridge/paybridge/providers/fake"
)

// Generate makes n payments per provider named <prefix><provider>-0001…,
// each drawn by its provider's descriptor (Sim.Sample): pending for a
// while, then settling as real payments do. The same seed gives the same
// payments; each provider draws from a stream of its own, derived from the
// seed and its name, so that adding a provider changes no other's.
func Generate(n int, prefix string, seed uint64) Scenario {
	return generate(all.List, n, prefix, seed)
}

// GenerateAccounts makes n payments for each account in accounts (by
// provider and account name, as Config.Accounts), with the ids Generate
// gives its provider's: the same payment id under two accounts is two
// payments. Each account draws from a stream of its own, derived from the
// seed, its provider and its name, so that its payments move otherwise
// than the default account's and adding an account changes no other's.
func GenerateAccounts(n int, prefix string, seed uint64, accounts map[string]map[string]providers.Credentials) AccountScenario {
	out := AccountScenario{}
	for _, d := range all.List {
		for name := range accounts[d.Name] {
			if out[d.Name] == nil {
				out[d.Name] = map[string][]fake.Payment{}
			}
			out[d.Name][name] = samples(d, name, n, prefix, seed)
		}
	}
	return out
}

func generate(list []providers.Descriptor, n int, prefix string, seed uint64) Scenario {
	s := Scenario{}
	for _, d := range list {
		if n > 0 {
			s[d.Name] = samples(d, "", n, prefix, seed)
		}
	}
	return s
}

// samples are the n payments of d's account ("" for the default).
func samples(d providers.Descriptor, account string, n int, prefix string, seed uint64) []fake.Payment {
	rng := rand.New(rand.NewPCG(seed, streamOf(d.Name, account)))
	var out []fake.Payment
	for i := range n {
		out = append(out, d.Sim.Sample(rng, fmt.Sprintf("%s%s-%04d", prefix, d.Name, i+1)))
	}
	return out
}
