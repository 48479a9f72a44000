//go:build unix

package main

import (
	"context"
	"errors"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers/fake"
)

// TestDataDirIsLocked: a second serve on the data directory of a running
// one exits 2 naming the directory and the holder, and leaves the first
// one's changes alone; the lock goes with the process that holds it, even
// killed.
func TestDataDirIsLocked(t *testing.T) {
	fk := startFakes(t)
	must(t, fk.coinbar.Add(fake.Payment{ID: "order-7", Amount: "2.50", Currency: "EUR", Steps: []fake.Step{{Status: "SUCCESS"}}}))
	dataDir := t.TempDir()
	first := startServe(t, fk.serveEnv(), "--embedded-listen", "127.0.0.1:-1", "--data-dir", dataDir)

	second := start(t, "paybridge", fk.serveEnv(), "serve", "--embedded-listen", "127.0.0.1:-1", "--data-dir", dataDir,
		"--http-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log-format", "json")
	testkit.WaitFor(t, 20*time.Second, "the second serve to exit or be ready", func() bool {
		_, ready := second.logged("paybridge ready")
		return second.exited() || ready
	})
	if !second.exited() {
		t.Fatalf("a second serve on the data directory of a running one started:\n%s", second.stderr)
	}
	holder := regexp.MustCompile(`\npaybridge: --data-dir: "` + regexp.QuoteMeta(dataDir) + `" is in use by another paybridge serve ` +
		`\(pid ` + strconv.Itoa(first.cmd.Process.Pid) + `, started \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\); run each serve on a data directory of its own\n$`)
	if code := second.wait(time.Second); code != 2 || !holder.MatchString("\n"+second.stderr.String()) {
		t.Errorf("the second serve exited %d, stderr:\n%s\nwant exit 2 and a last line matching %s", code, second.stderr, holder)
	}

	// The first one's acknowledged change survives its restart.
	client := testEnv("PAYBRIDGE_NATS_URL=" + first.natsURL)
	out, _, code := run(t, client, "check", "--json", "coinbar", "order-7")
	if rep := decodeReply(t, out, code); !rep.Changed || rep.EventID == "" {
		t.Fatalf("check on the first serve: %+v", rep)
	}
	if code := first.stop(); code != 0 {
		t.Fatalf("the first serve exited %d:\n%s", code, first.stderr)
	}
	u, err := url.Parse(first.natsURL)
	must(t, err)
	again := startServe(t, fk.serveEnv(), "--embedded-listen", u.Host, "--data-dir", dataDir)
	out, _, code = run(t, client, "status", "--json", "coinbar", "order-7")
	if rep := decodeReply(t, out, code); rep.Status != paybridge.StatusPaid {
		t.Errorf("after the restart the store says %+v", rep)
	}

	// Killed, it holds nothing: the next serve starts and names itself.
	must(t, again.cmd.Process.Kill())
	again.wait(10 * time.Second)
	next := startServe(t, fk.serveEnv(), "--embedded-listen", "127.0.0.1:-1", "--data-dir", dataDir)
	lock, err := os.ReadFile(filepath.Join(dataDir, "paybridge.lock"))
	must(t, err)
	if want := "pid " + strconv.Itoa(next.cmd.Process.Pid) + " started "; !strings.HasPrefix(string(lock), want) {
		t.Errorf("the lock file says %q, want it to begin %q", lock, want)
	}
	if code := next.stop(); code != 0 {
		t.Errorf("serve exited %d:\n%s", code, next.stderr)
	}
}

// TestUnwritableDataDirIsNamed: a --data-dir the embedded NATS server
// cannot write stops serve at once with exit status 2 and a line naming
// the directory and why, instead of a listen problem after 10 s.
func TestUnwritableDataDirIsNamed(t *testing.T) {
	regularFile := filepath.Join(t.TempDir(), "file")
	must(t, os.WriteFile(regularFile, nil, 0o600))
	jetstreamIsAFile := t.TempDir()
	must(t, os.WriteFile(filepath.Join(jetstreamIsAFile, "jetstream"), nil, 0o600))

	for _, c := range []struct {
		name, dataDir, want string
	}{
		// Neither can be written by root either.
		{"under a regular file", filepath.Join(regularFile, "nats"),
			`paybridge: --data-dir: cannot create the data directory "` + filepath.Join(regularFile, "nats") + `": mkdir ` + regularFile + ": not a directory"},
		{"its jetstream directory a file", jetstreamIsAFile,
			`paybridge: --data-dir: cannot write in "` + filepath.Join(jetstreamIsAFile, "jetstream") + `": not a directory`},
	} {
		t.Run(c.name, func(t *testing.T) {
			stderr, code := runServeIn(t, binary(t, "paybridge"), c.dataDir, nil)
			if code != 2 || !endsWithLine(stderr, c.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and the last line\n%s", code, stderr, c.want)
			}
		})
	}

	t.Run("read-only directory", func(t *testing.T) {
		// Permission bits stop no write of root's: as root, serve runs as
		// nobody, from a copy of the binary nobody may run.
		dir, bin, cred := t.TempDir(), binary(t, "paybridge"), (*syscall.Credential)(nil)
		if os.Geteuid() == 0 {
			must(t, os.Chmod(filepath.Dir(dir), 0o755))
			must(t, os.Chmod(dir, 0o755))
			bin = filepath.Join(dir, "paybridge")
			copyFile(t, binary(t, "paybridge"), bin, 0o755)
			cred = &syscall.Credential{Uid: 65534, Gid: 65534}
		}
		dataDir := filepath.Join(dir, "data")
		must(t, os.Mkdir(dataDir, 0o555))
		stderr, code := runServeIn(t, bin, dataDir, cred)
		want := `paybridge: --data-dir: cannot write in "` + dataDir + `": permission denied`
		if code != 2 || !endsWithLine(stderr, want) {
			t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and the last line\n%s", code, stderr, want)
		}
	})
}

// runServeIn runs serve with the embedded NATS server on dataDir, as the
// user cred names (nil: this process's), and returns its stderr and exit
// status. The data directory is refused at once, so no port is taken.
func runServeIn(t *testing.T, bin, dataDir string, cred *syscall.Credential) (stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--embedded-listen", "127.0.0.1:-1", "--data-dir", dataDir,
		"--http-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log-format", "json")
	cmd.Env = testEnv("PAYBRIDGE_MUVINAI_API_KEY=" + muvinaiKey)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var out strings.Builder
	cmd.Stderr = &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("serve did not exit within 30s:\n%s", out.String())
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	default:
		t.Fatal(err)
	}
	return out.String(), code
}

// copyFile copies the file from to a new file to with the mode perm.
func copyFile(t *testing.T, from, to string, perm os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	must(t, err)
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	must(t, err)
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		t.Fatal(err)
	}
	must(t, dst.Close())
}

// endsWithLine reports whether the last line of out is line.
func endsWithLine(out, line string) bool {
	return out == line+"\n" || strings.HasSuffix(out, "\n"+line+"\n")
}
