package sim

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"time"

	"github.com/paybridge/paybridge/providers/fake"
)

// Generate makes n payments per provider named <prefix><provider>-0001…,
// each pending for 10–40s and then settling as real payments do: most
// paid, a share expired, canceled, underpaid, overpaid or refunded. The
// same seed gives the same payments.
func Generate(n int, prefix string, seed uint64) Scenario {
	rng := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	var s Scenario
	for i := range n {
		s.Coinbar = append(s.Coinbar, coinbarPayment(rng, fmt.Sprintf("%scoinbar-%04d", prefix, i+1)))
		s.Muvinai = append(s.Muvinai, muvinaiPayment(rng, fmt.Sprintf("%smuvinai-%04d", prefix, i+1)))
	}
	return s
}

// btcEUR is the exchange rate of the generated CoinbarPay payments, the
// coin_change of CoinbarPay's documented example.
const btcEUR = "19913.425"

func coinbarPayment(rng *rand.Rand, id string) fake.Payment {
	amount := cents(500 + rng.Int64N(49_500)) // 5.00–500.00 EUR
	endings := []weighted{
		{60, []fake.Step{{Status: "SUCCESS"}}},
		{15, []fake.Step{{Status: "FAILED", Detail: "Timeout"}}},
		{10, []fake.Step{{Status: "CANCELED", Detail: "Canceled by client request"}}},
		{10, []fake.Step{{Status: "SUCCESS", For: 20 * time.Second}, {Status: "FAILED", Detail: "Refund"}}},
		{5, []fake.Step{{Status: "FAILED", Detail: "Payment error"}}},
	}
	steps := []fake.Step{{Status: "CREATED", For: 5 * time.Second}, {Status: "PENDING", For: pendingFor(rng)}}
	return fake.Payment{
		ID: id, Amount: amount, Currency: "EUR",
		CryptoAmount: ratio(amount, btcEUR, 20), CryptoCoin: "BTC",
		Steps: append(steps, pick(rng, endings)...),
	}
}

func muvinaiPayment(rng *rand.Rand, id string) fake.Payment {
	amount := cents(100_000 + rng.Int64N(9_900_000)) // 1,000.00–100,000.00 ARS
	half, extra := ratio(amount, "2", 2), ratio(amount, "0.9", 2)
	endings := []weighted{
		{55, []fake.Step{{Status: "approved", Detail: "correct", AmountPaid: amount}}},
		{10, []fake.Step{{Status: "approved", Detail: "overpaid", AmountPaid: extra}}},
		{10, []fake.Step{
			{Status: "pending", Detail: "underpaid", AmountPaid: half, For: 15 * time.Second},
			{Status: "expired", Detail: "underpaid", AmountPaid: half},
		}},
		{15, []fake.Step{{Status: "expired", Detail: "not_paid", AmountPaid: "0"}}},
		{5, []fake.Step{{Status: "canceled", Detail: "not_paid", AmountPaid: "0"}}},
		{5, []fake.Step{
			{Status: "approved", Detail: "correct", AmountPaid: amount, For: 20 * time.Second},
			{Status: "refunded", Detail: "correct", AmountPaid: amount},
		}},
	}
	steps := []fake.Step{{Status: "pending", Detail: "not_paid", AmountPaid: "0", For: pendingFor(rng)}}
	return fake.Payment{ID: id, Amount: amount, Currency: "ARS", Steps: append(steps, pick(rng, endings)...)}
}

type weighted struct {
	weight int
	steps  []fake.Step
}

func pick(rng *rand.Rand, choices []weighted) []fake.Step {
	total := 0
	for _, c := range choices {
		total += c.weight
	}
	n := rng.IntN(total)
	for _, c := range choices {
		if n < c.weight {
			return c.steps
		}
		n -= c.weight
	}
	return choices[len(choices)-1].steps
}

func pendingFor(rng *rand.Rand) time.Duration {
	return time.Duration(10+rng.IntN(31)) * time.Second
}

func cents(c int64) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }

// ratio is a/b as a decimal with the given places, both exact decimals.
func ratio(a, b string, places int) string {
	x, _ := new(big.Rat).SetString(a)
	y, _ := new(big.Rat).SetString(b)
	return new(big.Rat).Quo(x, y).FloatString(places)
}
