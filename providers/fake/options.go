package fake

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Option configures an Engine.
type Option func(*config) error

type config struct {
	serverErrorRate float64
	rateLimitRate   float64
	latencyMin      time.Duration
	latencyMax      time.Duration
	seed            uint64
}

// WithFaultRates makes a share of requests fail at random, as a real
// provider does: serverError of them with a 5xx, rateLimited with a 429
// and Retry-After: 1. Queued Faults take precedence.
func WithFaultRates(serverError, rateLimited float64) Option {
	return func(c *config) error {
		if serverError < 0 || rateLimited < 0 || serverError+rateLimited > 1 {
			return fmt.Errorf("fault rates must be between 0 and 1 and add up to at most 1, got %v and %v", serverError, rateLimited)
		}
		c.serverErrorRate, c.rateLimitRate = serverError, rateLimited
		return nil
	}
}

// WithLatency delays every answer by a random time in [min, max].
func WithLatency(minDelay, maxDelay time.Duration) Option {
	return func(c *config) error {
		if minDelay < 0 || maxDelay < minDelay {
			return fmt.Errorf("latency needs 0 <= min <= max, got %s and %s", minDelay, maxDelay)
		}
		c.latencyMin, c.latencyMax = minDelay, maxDelay
		return nil
	}
}

// WithSeed makes the random faults and latencies repeatable.
func WithSeed(seed uint64) Option {
	return func(c *config) error {
		c.seed = seed
		return nil
	}
}

func defaultConfig() config { return config{seed: rand.Uint64()} }
