package natsembed_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/paybridge/paybridge/natsembed"
)

func TestStartServesJetStream(t *testing.T) {
	s, err := natsembed.Start(natsembed.Config{Host: "127.0.0.1", Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(); err != nil {
		t.Fatalf("JetStream not enabled: %v", err)
	}
}

func TestStartNamesATakenPortAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	start := time.Now()
	_, err = natsembed.Start(natsembed.Config{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, StoreDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("error %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("a taken port was reported only after the ready timeout")
	}
}

func TestStartNeedsADataDir(t *testing.T) {
	if _, err := natsembed.Start(natsembed.Config{Host: "127.0.0.1", Port: -1}); err == nil {
		t.Fatal("started without a data directory")
	}
}

func TestParseListen(t *testing.T) {
	host, port, err := natsembed.ParseListen("127.0.0.1:4222")
	if err != nil || host != "127.0.0.1" || port != 4222 {
		t.Fatalf("%s %d %v", host, port, err)
	}
	for _, bad := range []string{"4222", "host:x", "host:70000", "host:-2"} {
		if _, _, err := natsembed.ParseListen(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestStartNamesAStoreItCannotWrite: a data directory the server cannot
// write is refused before the server starts, naming the directory and why.
func TestStartNamesAStoreItCannotWrite(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	jetstreamIsAFile := t.TempDir()
	if err := os.WriteFile(filepath.Join(jetstreamIsAFile, "jetstream"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]string{
		filepath.Join(file, "nats"): `embedded NATS: cannot create the data directory "` + filepath.Join(file, "nats") + `": mkdir ` + file + ": not a directory",
		jetstreamIsAFile:            `embedded NATS: cannot write in "` + filepath.Join(jetstreamIsAFile, "jetstream") + `": not a directory`,
	} {
		if s, err := natsembed.Start(natsembed.Config{Host: "127.0.0.1", Port: -1, StoreDir: dir}); err == nil || err.Error() != want {
			if s != nil {
				s.Shutdown()
			}
			t.Errorf("store %s: error %v, want %s", dir, err, want)
		}
	}
}

// TestCheckStoreDirLeavesNothingBehind: the check creates a missing data
// directory and leaves no file of its own in it or in its store.
func TestCheckStoreDirLeavesNothingBehind(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nats")
	if err := natsembed.CheckStoreDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "jetstream"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := natsembed.CheckStoreDir(dir); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Join(dir, "jetstream")} {
		entries, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		if d == dir && len(entries) != 1 || d != dir && len(entries) != 0 {
			t.Errorf("%s holds %v after the check", d, entries)
		}
	}
}
