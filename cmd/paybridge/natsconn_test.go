package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// TestNKeyAuth: --nats-nkey authenticates the client commands to a
// server that admits only that key.
func TestNKeyAuth(t *testing.T) {
	user, err := nkeys.CreateUser()
	must(t, err)
	public, err := user.PublicKey()
	must(t, err)
	seed, err := user.Seed()
	must(t, err)
	seedFile := filepath.Join(t.TempDir(), "user.nk")
	must(t, os.WriteFile(seedFile, seed, 0o600))

	srv, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true,
		Nkeys: []*natsserver.NkeyUser{{Nkey: public}}})
	must(t, err)
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	url := srv.ClientURL()

	_, stderr, code := run(t, testEnv(), "status", "--nats-url", url, "coinbar", "x")
	if code != 1 || !strings.Contains(stderr, "paybridge: connecting to NATS at "+url+": nats: Authorization Violation") {
		t.Errorf("without the key: exit %d, %q", code, stderr)
	}
	_, stderr, code = run(t, testEnv("PAYBRIDGE_NATS_NKEY="+seedFile), "status", "--nats-url", url, "coinbar", "x")
	if want := "paybridge: nothing answers on payments.status.get at " + url + ": is paybridge serve running there?\n"; code != 1 || stderr != want {
		t.Errorf("with the key: exit %d, %q; want the connection to succeed and find no bridge", code, stderr)
	}
	noSecrets(t, stderr)
	if strings.Contains(stderr, string(seed)) {
		t.Error("the seed was printed")
	}
}
