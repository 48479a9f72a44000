package fake

import (
	"fmt"
	"math/big"
	"math/rand/v2"
)

// This file holds what providers' sample generators (Descriptor.Sim.Sample
// in package providers) share.

// Ending is one way a generated payment ends, and how often: Weight
// against the other endings' weights.
type Ending struct {
	Weight int
	Steps  []Step
}

// PickEnding draws one of endings by weight.
func PickEnding(rng *rand.Rand, endings []Ending) []Step {
	total := 0
	for _, e := range endings {
		total += e.Weight
	}
	n := rng.IntN(total)
	for _, e := range endings {
		if n < e.Weight {
			return e.Steps
		}
		n -= e.Weight
	}
	return endings[len(endings)-1].Steps
}

// Cents writes an amount of c hundredths as a decimal: 1234 is "12.34".
func Cents(c int64) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }

// Ratio is a/b, both exact decimals, as a decimal with the given places.
func Ratio(a, b string, places int) string {
	x, _ := new(big.Rat).SetString(a)
	y, _ := new(big.Rat).SetString(b)
	return new(big.Rat).Quo(x, y).FloatString(places)
}
