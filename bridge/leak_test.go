package bridge_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine the bridge starts is gone once the tests have closed
// their bridges, connections and servers: background work, intake
// workers, keep-alives, watches. The same binary is also the allocation
// tests' peer (alloc_test.go).
func TestMain(m *testing.M) {
	if os.Getenv(allocPeerEnv) != "" {
		if err := runAllocPeer(); err != nil {
			fmt.Fprintln(os.Stderr, "alloc peer:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}
