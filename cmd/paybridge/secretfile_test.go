package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/paybridge/paybridge/internal/testkit"
)

// TestEmptySecretFileIsAnError: a _FILE variable naming an empty file (or
// one holding only a line ending) stops serve with exit status 2 and a line
// naming the variable, as a missing file does, instead of starting with
// the provider (or the webhook token, or the NATS URL) silently unset.
func TestEmptySecretFileIsAnError(t *testing.T) {
	fk := startFakes(t)
	for _, c := range []struct {
		name     string
		variable string
		content  string
	}{
		{"empty key", "PAYBRIDGE_COINBAR_API_KEY_FILE", ""},
		{"key of a newline", "PAYBRIDGE_COINBAR_API_KEY_FILE", "\n"},
		{"key of CR LF", "PAYBRIDGE_COINBAR_API_KEY_FILE", "\r\n"},
		{"empty signing key", "PAYBRIDGE_COINBAR_SECRET_KEY_FILE", ""},
		{"empty webhook token", "PAYBRIDGE_MUVINAI_WEBHOOK_TOKEN_FILE", "\n"},
		{"empty NATS URL", "PAYBRIDGE_NATS_URL_FILE", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "secret")
			must(t, os.WriteFile(path, []byte(c.content), 0o600))
			// Muvinai is enabled either way, so that serve would start
			// if the empty file were taken for an unset value.
			env := testEnv(c.variable+"="+path, "PAYBRIDGE_MUVINAI_API_KEY="+muvinaiKey,
				"PAYBRIDGE_COINBAR_BASE_URL="+fk.cbURL, "PAYBRIDGE_MUVINAI_BASE_URL="+fk.mvURL)
			p := start(t, "paybridge", env, "serve", "--embedded-listen", "127.0.0.1:-1", "--data-dir", t.TempDir(),
				"--http-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log-format", "json")
			testkit.WaitFor(t, 20*time.Second, "serve to exit or be ready", func() bool {
				_, ready := p.logged("paybridge ready")
				return p.exited() || ready
			})
			if !p.exited() {
				t.Fatalf("serve started with %s naming an empty file:\n%s", c.variable, p.stderr)
			}
			want := "paybridge: " + c.variable + `: the file "` + path + `" is empty` + "\n"
			if code := p.wait(time.Second); code != 2 || p.stderr.String() != want {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and the one line\n%s", code, p.stderr, want)
			}
		})
	}
}
