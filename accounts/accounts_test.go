package accounts_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/accounts"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers/all"
)

// tree writes files under root: path → content.
func tree(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for path, content := range files {
		full := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func open(t testing.TB, root string, logs *testkit.SyncBuffer, secrets *[]string) *accounts.Dir {
	t.Helper()
	var mu sync.Mutex
	cfg := accounts.Config{Root: root, Providers: all.List, BaseURLs: map[string]string{}}
	if logs != nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	if secrets != nil {
		cfg.Secrets = func(s ...string) { mu.Lock(); *secrets = append(*secrets, s...); mu.Unlock() }
	}
	d, err := accounts.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func webhookSecret(t *testing.T, d *accounts.Dir, provider, name string) string {
	t.Helper()
	a, ok := d.Account(provider, name)
	if !ok {
		t.Fatalf("no account %s/%s", provider, name)
	}
	return a.Client.(paybridge.WebhookReceiver).WebhookSecret()
}

// The layout of the contract: one value per file, one trailing newline
// trimmed; an optional rate; an account whose files are wrong is refused
// with one error naming its directory and the file, and the others work.
func TestDirReadsEachAccountAndRefusesTheBadOnes(t *testing.T) {
	root := t.TempDir()
	tree(t, root, map[string]string{
		"coinbar/shop-a/api-key":       "cb-a\n",
		"coinbar/shop-a/secret-key":    "cb-a-secret\n",
		"coinbar/shop-a/rate":          "1000/24h\n",
		"coinbar/shop-b/api-key":       "cb-b",
		"coinbar/no-key/secret-key":    "x",
		"coinbar/bad-rate/api-key":     "cb-c",
		"coinbar/bad-rate/rate":        "fast",
		"coinbar/bad name/api-key":     "cb-d",
		"coinbar/two-lines/api-key":    "cb-f\n\n",
		"coinbar/tab/api-key":          "cb-g",
		"coinbar/tab/secret-key":       "s\x01",
		"coinbar/.hidden/api-key":      "cb-e",
		"muvinai/shop-a/api-key":       "mv-a\n",
		"muvinai/shop-a/webhook-token": "tok-a\n",
	})
	var logs testkit.SyncBuffer
	var secrets []string
	d := open(t, root, &logs, &secrets)

	if n := d.Count("coinbar"); n != 2 {
		t.Errorf("%d CoinbarPay accounts, want shop-a and shop-b", n)
	}
	a, ok := d.Account("coinbar", "shop-a")
	if !ok || a.Limit != (bridge.Rate{N: 1000, Per: 24 * time.Hour}) {
		t.Fatalf("shop-a: %+v, %t", a, ok)
	}
	if got := webhookSecret(t, d, "coinbar", "shop-a"); got != "cb-a" {
		t.Errorf("shop-a's client id %q: the trailing newline is not trimmed", got)
	}
	if got := webhookSecret(t, d, "muvinai", "shop-a"); got != "tok-a" {
		t.Errorf("muvinai shop-a's webhook token %q", got)
	}
	for _, refused := range []string{"no-key", "bad-rate", "bad name", ".hidden", "two-lines", "tab"} {
		if _, ok := d.Account("coinbar", refused); ok {
			t.Errorf("account %q was taken", refused)
		}
	}
	for _, want := range []string{
		filepath.Join(root, "coinbar", "no-key", "api-key") + " is missing",
		filepath.Join(root, "coinbar", "bad-rate", "rate"),
		"bad name",
		filepath.Join(root, "coinbar", "two-lines", "api-key") + " holds a control character",
		filepath.Join(root, "coinbar", "tab", "secret-key") + " holds a control character",
	} {
		if countLines(logs.String(), want) != 1 {
			t.Errorf("the log does not say %q once:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), ".hidden") {
		t.Errorf("a hidden entry was read:\n%s", logs.String())
	}
	for _, s := range []string{"cb-a", "cb-a-secret", "cb-b", "mv-a", "tok-a"} {
		if !slices.Contains(secrets, s) {
			t.Errorf("secret %q was not handed over for redaction", s)
		}
	}
	// A reload of unchanged files logs nothing again.
	before := logs.String()
	d.Reload()
	if logs.String() != before {
		t.Errorf("an unchanged problem was logged again:\n%s", strings.TrimPrefix(logs.String(), before))
	}
}

// countLines is how many lines of text hold s.
func countLines(text, s string) int {
	n := 0
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// A callback's credential finds its account, and only its own.
func TestDirFindsTheAccountOfAWebhook(t *testing.T) {
	root := t.TempDir()
	tree(t, root, map[string]string{
		"coinbar/shop-a/api-key":       "cb-a",
		"coinbar/shop-b/api-key":       "cb-b",
		"muvinai/shop-a/api-key":       "mv-a",
		"muvinai/shop-a/webhook-token": "tok-a",
		"muvinai/shop-b/api-key":       "mv-b",
	})
	d := open(t, root, nil, nil)
	for _, c := range []struct{ provider, credential, want string }{
		{"coinbar", "cb-b", "shop-b"}, {"muvinai", "tok-a", "shop-a"}, {"coinbar", "tok-a", ""},
		{"muvinai", "mv-b", ""}, {"muvinai", "", ""},
	} {
		got, ok := d.WebhookAccount(c.provider, c.credential)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("%s credential %q: account %q, %t; want %q", c.provider, c.credential, got, ok, c.want)
		}
	}
	if d.Receiver("coinbar") == nil || d.Receiver("muvinai") == nil {
		t.Error("no receiver of callbacks")
	}
}

// Accounts that share a webhook credential cannot be told apart by a
// callback: it is refused (checked with either account's key, the other's
// payment would be answered not found and dropped), and an error names
// them; an account with its own credential is found as before.
func TestDirRefusesAWebhookCredentialSharedByAccounts(t *testing.T) {
	root := t.TempDir()
	tree(t, root, map[string]string{
		"muvinai/shop-a/api-key": "mv-a", "muvinai/shop-a/webhook-token": "tok",
		"muvinai/shop-b/api-key": "mv-b", "muvinai/shop-b/webhook-token": "tok",
		"muvinai/shop-c/api-key": "mv-c", "muvinai/shop-c/webhook-token": "tok",
		"muvinai/shop-d/api-key": "mv-d", "muvinai/shop-d/webhook-token": "tok-d",
	})
	var logs testkit.SyncBuffer
	d := open(t, root, &logs, nil)
	if name, ok := d.WebhookAccount("muvinai", "tok"); ok || name != "shop-a, shop-b, shop-c" {
		t.Errorf("a credential of three accounts: %q, %t; want them named, and refused", name, ok)
	}
	if name, ok := d.WebhookAccount("muvinai", "tok-d"); !ok || name != "shop-d" {
		t.Errorf("shop-d's own credential: %q, %t", name, ok)
	}
	if log := logs.String(); !strings.Contains(log, "share a webhook credential") || !strings.Contains(log, "shop-a, shop-b, shop-c") ||
		strings.Contains(log, "tok") {
		t.Errorf("logs: %s", log)
	}
}

// An account's files replaced as a Kubernetes Secret volume replaces them
// (a new hidden directory, the ..data link swapped) are read again on the
// next reload: the rotated key is in use and the old one is not; an added
// account appears and a removed one is gone.
func TestDirFollowsRotationsAdditionsAndRemovals(t *testing.T) {
	root := t.TempDir()
	secretVolume(t, filepath.Join(root, "coinbar", "shop-a"), "v1", map[string]string{"api-key": "cb-a-1\n"})
	tree(t, root, map[string]string{"coinbar/shop-b/api-key": "cb-b"})
	d := open(t, root, nil, nil)
	if got := webhookSecret(t, d, "coinbar", "shop-a"); got != "cb-a-1" {
		t.Fatalf("before: %q", got)
	}
	unchanged, _ := d.Account("coinbar", "shop-b")

	secretVolume(t, filepath.Join(root, "coinbar", "shop-a"), "v2", map[string]string{"api-key": "cb-a-2\n"})
	tree(t, root, map[string]string{"coinbar/shop-c/api-key": "cb-c"})
	if err := os.RemoveAll(filepath.Join(root, "coinbar", "shop-b")); err != nil {
		t.Fatal(err)
	}
	d.Reload()
	if got := webhookSecret(t, d, "coinbar", "shop-a"); got != "cb-a-2" {
		t.Fatalf("after the rotation: %q", got)
	}
	if name, ok := d.WebhookAccount("coinbar", "cb-a-1"); ok {
		t.Fatalf("the rotated-out key still finds %s", name)
	}
	if _, ok := d.Account("coinbar", "shop-c"); !ok {
		t.Fatal("the added account is missing")
	}
	if _, ok := d.Account("coinbar", "shop-b"); ok {
		t.Fatal("the removed account is still there")
	}
	if unchanged.Client == nil {
		t.Fatal("shop-b had no client")
	}

	// Files unchanged: the same client, not a new one per reload.
	a1, _ := d.Account("coinbar", "shop-c")
	d.Reload()
	if a2, _ := d.Account("coinbar", "shop-c"); a2.Client != a1.Client {
		t.Fatal("an unchanged account was read again")
	}
}

// secretVolume writes files as a Kubernetes Secret volume holds them: in
// a hidden directory of the version, a ..data link to it, and a link per
// file through ..data; a later version swaps the ..data link.
func secretVolume(t *testing.T, dir, version string, files map[string]string) {
	t.Helper()
	versionDir := filepath.Join(dir, "..."+version)
	tree(t, versionDir, files)
	// The new file times must differ from the old ones on coarse clocks.
	later := time.Now().Add(time.Duration(len(version)) * time.Second)
	for name := range files {
		if err := os.Chtimes(filepath.Join(versionDir, name), later, later); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink("..."+version, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkOpen measures reading 10,000 accounts (the contract: under a
// second) and a reload of them unchanged.
func BenchmarkOpen(b *testing.B) {
	root := b.TempDir()
	files := map[string]string{}
	for i := range 10_000 {
		files[fmt.Sprintf("coinbar/shop-%05d/api-key", i)] = fmt.Sprintf("cb-%05d\n", i)
		files[fmt.Sprintf("coinbar/shop-%05d/rate", i)] = "1000/24h\n"
	}
	tree(b, root, files)
	b.Run("open", func(b *testing.B) {
		for b.Loop() {
			if d := open(b, root, nil, nil); d.Count("coinbar") != 10_000 {
				b.Fatalf("%d accounts", d.Count("coinbar"))
			}
		}
	})
	d := open(b, root, nil, nil)
	b.Run("reload-unchanged", func(b *testing.B) {
		for b.Loop() {
			d.Reload()
		}
	})
}

// Credentials reads what a Dir reads, for a simulator serving the same
// directory, and names the file of an account it cannot read.
func TestCredentialsReadsTheSameLayout(t *testing.T) {
	root := t.TempDir()
	tree(t, root, map[string]string{
		"coinbar/shop-a/api-key":       "key-a\n",
		"coinbar/shop-a/secret-key":    "secret-a\n",
		"coinbar/shop-b/api-key":       "key-b",
		"muvinai/shop-a/api-key":       "mkey-a\n",
		"muvinai/shop-a/webhook-token": "token-a\n",
	})
	got, err := accounts.Credentials(root, all.List)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"coinbar": {"shop-a": "key-a", "shop-b": "key-b"},
		"muvinai": {"shop-a": "mkey-a"},
	}
	for provider, byAccount := range want {
		if len(got[provider]) != len(byAccount) {
			t.Errorf("%s: %d accounts, want %d", provider, len(got[provider]), len(byAccount))
		}
		for name, key := range byAccount {
			if got[provider][name]["api-key"] != key {
				t.Errorf("%s/%s api-key = %q, want %q", provider, name, got[provider][name]["api-key"], key)
			}
		}
	}
	if got["coinbar"]["shop-a"]["secret-key"] != "secret-a" || got["muvinai"]["shop-a"]["webhook-token"] != "token-a" {
		t.Errorf("optional credentials not read: %v", got)
	}

	tree(t, root, map[string]string{"coinbar/shop-c/secret-key": "s"})
	_, err = accounts.Credentials(root, all.List)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(root, "coinbar", "shop-c", "api-key")) {
		t.Errorf("an account without api-key: %v, want an error naming the file", err)
	}
}
