package natsembed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// TestAServerThatCannotStartSaysWhyAtOnce: a fatal error of the server's
// start (here JetStream's store, which CheckStoreDir would have caught
// first) is the error, at once, instead of a ready timeout.
func TestAServerThatCannotStartSaysWhyAtOnce(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, server.JetStreamStoreDir), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	s, err := run(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true})
	if err == nil {
		s.Shutdown()
		t.Fatal("a server without a usable store started")
	}
	if !strings.HasPrefix(err.Error(), "embedded NATS: Can't start JetStream: ") {
		t.Errorf("error %q does not say JetStream could not start", err)
	}
	if time.Since(began) >= readyTimeout/2 {
		t.Errorf("the error came after %s", time.Since(began))
	}
}
