package providertest

import "testing"

// RunTransport runs, one subtest each, the scenarios every provider client
// must pass against its fake: how it retries, what it refuses, what it
// makes of unreadable bodies, hostile ids and redirects, and that
// credentials reach neither logs nor errors.
func RunTransport(t *testing.T, h Harness) {
	t.Helper()
	if err := h.validate(); err != nil {
		t.Fatalf("harness: %v", err)
	}
	scenarios := []struct {
		name string
		run  func(*testing.T, Harness)
	}{
		{"RetriesA503", retriesA503},
		{"HonoursRetryAfter", honoursRetryAfter},
		{"RetriesStop", retriesStop},
		{"WaitsPastTheDeadlineAreNotStarted", waitsPastTheDeadlineAreNotStarted},
		{"DeadlineIsATimeout", deadlineIsATimeout},
		{"WrongCredentials", wrongCredentials},
		{"UnreadableBodies", unreadableBodies},
		{"PaymentIDsReachTheProviderByteForByte", paymentIDsReachTheProviderByteForByte},
		{"DotSegmentsAreRefused", dotSegmentsAreRefused},
		{"RedirectsAreNotFollowed", redirectsAreNotFollowed},
		{"LogsAndErrorsHoldNoCredentials", logsAndErrorsHoldNoCredentials},
		{"NewValidatesTheBaseURL", newValidatesTheBaseURL},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) { s.run(t, h) })
	}
}
