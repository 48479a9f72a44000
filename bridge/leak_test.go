package bridge_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine the bridge starts is gone once the tests have closed
// their bridges, connections and servers: background work, intake
// workers, keep-alives, watches.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
