package client_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine a client starts (subscriptions, followers, their
// consumers) is gone once the tests have stopped them and closed their
// connections and servers.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
