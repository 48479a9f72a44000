// Package accounts reads the merchant accounts of a platform from a
// directory, DIR/<provider>/<account>/<file> with one value per file (the
// layout of one Kubernetes Secret per account mounted under DIR), and
// keeps them current as the files change: a Dir is the bridge.Accounts of
// `paybridge serve --accounts-dir` (docs/contract.md, "Accounts").
package accounts

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/providers"
)

// rateFile is the file of an account's call budget, "calls/duration" as
// the --<provider>-rate flags take it; every other file is a credential
// of the provider's descriptor.
const rateFile = "rate"

// Config says what a Dir reads and how it builds clients.
type Config struct {
	// Root is the directory: Root/<provider>/<account>/<file>.
	Root string
	// Providers are those whose accounts are read, each from the
	// subdirectory of its name.
	Providers []providers.Descriptor
	// BaseURLs are the providers' API base URLs by name; a provider
	// without one uses its descriptor's default.
	BaseURLs map[string]string
	// HTTPOptions configure every account's client; the accounts of one
	// provider share one pool of connections.
	HTTPOptions []providers.HTTPOption
	// Secrets, when set, is told the secrets read by each Open or Reload
	// (keys, secrets, tokens) at once, so that no log line or error shows
	// them, new or rotated.
	Secrets func(...string)
	// Logger receives one error per invalid account and change.
	Logger *slog.Logger
}

// Dir is the accounts read from Config.Root. It is safe for concurrent
// use; Reload (or Follow) brings it up to the files.
type Dir struct {
	cfg        Config
	transports map[string]*providers.Transport

	mu           sync.RWMutex
	byName       map[string]*set   // by provider
	problems     map[string]string // by account directory: the problem logged last
	sharedLogged map[string]string // by provider: the accounts sharing a webhook credential, as logged last
}

// set is one provider's accounts.
type set struct {
	accounts map[string]*account // by account name
	webhook  map[[32]byte]string // the SHA-256 of an account's webhook secret → its name
	shared   map[[32]byte]string // the SHA-256 of a webhook secret several accounts have → their names
}

// account is one merchant account as read.
type account struct {
	client paybridge.Provider
	limit  bridge.Rate
	stamp  string // its files' names, sizes and times when read: a change is a reread
}

// Open reads the accounts under cfg.Root. A provider's subdirectory may
// be missing (no accounts); an account that cannot be read is logged and
// left out, never fatal. Only a Root that is not a readable directory is
// an error.
func Open(cfg Config) (*Dir, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	info, err := os.Stat(cfg.Root)
	switch {
	case err != nil:
		return nil, fmt.Errorf("accounts directory %s: %w", cfg.Root, err)
	case !info.IsDir():
		return nil, fmt.Errorf("accounts directory %s: not a directory", cfg.Root)
	}
	d := &Dir{cfg: cfg, transports: map[string]*providers.Transport{}, byName: map[string]*set{}, problems: map[string]string{}, sharedLogged: map[string]string{}}
	for _, p := range cfg.Providers {
		d.transports[p.Name] = providers.NewTransport(nil)
	}
	d.Reload()
	return d, nil
}

// Follow rereads the directory every interval until done is closed. The
// contract's ten seconds for a rotated, added or removed account leave
// room for a Kubernetes Secret volume's own delay.
func (d *Dir) Follow(done <-chan struct{}, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			d.Reload()
		}
	}
}

// Reload brings the accounts up to the files: an account whose files
// changed is read again (a rotated key is used from then on), a new one is
// added, one whose directory is gone is removed. Accounts whose files did
// not change are not read, only looked at.
func (d *Dir) Reload() {
	var secrets []string
	for _, p := range d.cfg.Providers {
		secrets = d.reload(p, secrets)
	}
	if len(secrets) > 0 && d.cfg.Secrets != nil {
		d.cfg.Secrets(secrets...)
	}
}

// reload reloads p's accounts, and returns secrets with those it read.
func (d *Dir) reload(p providers.Descriptor, secrets []string) []string {
	dir := filepath.Join(d.cfg.Root, p.Name)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		entries = nil
	} else if err != nil {
		d.problem(dir, fmt.Sprintf("cannot list %s: %v", dir, errors.Unwrap(err)))
		return secrets // keep what it had
	}
	d.mu.RLock()
	old := d.byName[p.Name]
	d.mu.RUnlock()
	next := &set{accounts: map[string]*account{}, webhook: map[[32]byte]string{}, shared: map[[32]byte]string{}}
	shared := map[[32]byte][]string{} // webhook credentials of more than one account
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") { // a Secret volume's own ..data and the like
			continue
		}
		accountDir := filepath.Join(dir, name)
		if problem := paybridge.AccountProblem(name); problem != "" {
			d.problem(accountDir, "its name "+problem)
			continue
		}
		stamp := stampOf(accountDir, p)
		var a *account
		if old != nil && old.accounts[name] != nil && old.accounts[name].stamp == stamp {
			a = old.accounts[name]
		} else if a, secrets, err = d.read(p, accountDir, stamp, secrets); err != nil {
			d.problem(accountDir, err.Error())
			continue
		}
		d.solved(accountDir)
		next.accounts[name] = a
		if r, ok := a.client.(paybridge.WebhookReceiver); ok && r.WebhookSecret() != "" {
			sum := sha256.Sum256([]byte(r.WebhookSecret()))
			if other, taken := next.webhook[sum]; taken {
				shared[sum] = append(shared[sum], other)
				delete(next.webhook, sum)
			}
			if shared[sum] != nil {
				shared[sum] = append(shared[sum], name)
				continue
			}
			next.webhook[sum] = name
		}
	}
	for sum, names := range shared {
		next.shared[sum] = strings.Join(names, ", ")
	}
	d.mu.Lock()
	d.byName[p.Name] = next
	d.mu.Unlock()
	d.reportShared(p.Name, next.shared)
	return secrets
}

// reportShared logs, when it changes, which of provider's accounts share
// a webhook credential: a callback with it cannot say whose payment it
// is, so it is refused rather than checked with one of the accounts'
// keys (whose provider would answer that it has no such payment).
func (d *Dir) reportShared(provider string, shared map[[32]byte]string) {
	now := strings.Join(slices.Sorted(maps.Values(shared)), "; ")
	d.mu.Lock()
	before := d.sharedLogged[provider]
	d.sharedLogged[provider] = now
	d.mu.Unlock()
	switch {
	case now == before:
	case now != "":
		d.cfg.Logger.Error("merchant accounts share a webhook credential: their webhooks are refused until each has its own",
			"provider", provider, "accounts", now)
	default:
		d.cfg.Logger.Info("merchant accounts no longer share a webhook credential", "provider", provider)
	}
}

// read reads one account's files and builds its client; it returns
// secrets with the account's added.
func (d *Dir) read(p providers.Descriptor, dir, stamp string, secrets []string) (*account, []string, error) {
	creds, limit, err := readAccount(p, dir)
	if err != nil {
		return nil, secrets, err
	}
	for _, c := range p.Credentials {
		if c.Secret && creds[c.Name] != "" {
			secrets = append(secrets, creds[c.Name])
		}
	}
	baseURL := d.cfg.BaseURLs[p.Name]
	if baseURL == "" {
		baseURL = p.DefaultBaseURL
	}
	opts := append(slices.Clone(d.cfg.HTTPOptions), providers.WithTransport(d.transports[p.Name]))
	client, err := p.New(baseURL, creds, opts...)
	if err != nil {
		return nil, secrets, err
	}
	return &account{client: client, limit: limit, stamp: stamp}, secrets, nil
}

// readAccount reads the credentials and call budget of p's account whose
// directory is dir; the error names the file at fault.
func readAccount(p providers.Descriptor, dir string) (providers.Credentials, bridge.Rate, error) {
	creds := providers.Credentials{}
	for _, c := range p.Credentials {
		v, err := readValue(dir, c.Name)
		switch {
		case errors.Is(err, fs.ErrNotExist) && c.Required:
			return nil, bridge.Rate{}, fmt.Errorf("the file %s is missing", filepath.Join(dir, c.Name))
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return nil, bridge.Rate{}, err
		case v == "" && c.Required:
			return nil, bridge.Rate{}, fmt.Errorf("the file %s is empty", filepath.Join(dir, c.Name))
		case strings.ContainsFunc(v, unicode.IsControl):
			// A second line break, a tab: the provider's client would
			// refuse it without naming the file.
			return nil, bridge.Rate{}, fmt.Errorf("the file %s holds a control character (one trailing line break is allowed)", filepath.Join(dir, c.Name))
		}
		creds[c.Name] = v
	}
	var limit bridge.Rate
	switch text, err := readValue(dir, rateFile); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, bridge.Rate{}, err
	default:
		if limit, err = bridge.ParseRate(text); err != nil {
			return nil, bridge.Rate{}, fmt.Errorf("the file %s: %v", filepath.Join(dir, rateFile), err)
		}
	}
	return creds, limit, nil
}

// Credentials reads every account under root once, by provider and
// account name, as a Dir would: what a simulator serving the same
// directory accepts. An account that cannot be read is an error naming
// its file; a provider without a subdirectory has none.
func Credentials(root string, ps []providers.Descriptor) (map[string]map[string]providers.Credentials, error) {
	out := map[string]map[string]providers.Credentials{}
	for _, p := range ps {
		entries, err := os.ReadDir(filepath.Join(root, p.Name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			dir := filepath.Join(root, p.Name, e.Name())
			if problem := paybridge.AccountProblem(e.Name()); problem != "" {
				return nil, fmt.Errorf("account directory %s: its name %s", dir, problem)
			}
			creds, _, err := readAccount(p, dir)
			if err != nil {
				return nil, err
			}
			if out[p.Name] == nil {
				out[p.Name] = map[string]providers.Credentials{}
			}
			out[p.Name][e.Name()] = creds
		}
	}
	return out, nil
}

// readValue reads one value: the file's text with one trailing newline
// trimmed (a Secret's value as written, or echo's).
func readValue(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return "", err
	}
	text := strings.TrimSuffix(string(b), "\n")
	return strings.TrimSuffix(text, "\r"), nil
}

// stampOf is what an account's files are now: the name, size and time of
// each the provider reads (through a Secret volume's symlinks, which a
// rotation swaps), so that Reload rereads only what changed.
func stampOf(dir string, p providers.Descriptor) string {
	var b strings.Builder
	for _, name := range append(credentialNames(p), rateFile) {
		if info, err := os.Stat(filepath.Join(dir, name)); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", name, info.Size(), info.ModTime().UnixNano())
		} else {
			fmt.Fprintf(&b, "%s:-;", name)
		}
	}
	return b.String()
}

func credentialNames(p providers.Descriptor) []string {
	names := make([]string, len(p.Credentials))
	for i, c := range p.Credentials {
		names[i] = c.Name
	}
	return names
}

// problem logs what is wrong with an account directory, once for as long
// as the problem stays the same: the others keep working.
func (d *Dir) problem(dir, what string) {
	d.mu.Lock()
	known := d.problems[dir] == what
	d.problems[dir] = what
	d.mu.Unlock()
	if !known {
		d.cfg.Logger.Error("merchant account refused", "directory", dir, "problem", what)
	}
}

// solved forgets the problem of an account directory that reads well now.
func (d *Dir) solved(dir string) {
	d.mu.Lock()
	delete(d.problems, dir)
	d.mu.Unlock()
}

// Providers implements bridge.Accounts: every provider a Dir reads; one
// whose directory is empty or missing now may have accounts later.
func (d *Dir) Providers() []string {
	names := make([]string, 0, len(d.cfg.Providers))
	for _, p := range d.cfg.Providers {
		names = append(names, p.Name)
	}
	return names
}

// Account implements bridge.Accounts.
func (d *Dir) Account(provider, name string) (bridge.Account, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	s := d.byName[provider]
	if s == nil || s.accounts[name] == nil {
		return bridge.Account{}, false
	}
	a := s.accounts[name]
	return bridge.Account{Client: a.client, Limit: a.limit}, true
}

// WebhookAccount implements bridge.Accounts: one map lookup by the
// credential's SHA-256, whatever the number of accounts.
func (d *Dir) WebhookAccount(provider, credential string) (string, bool) {
	if credential == "" {
		return "", false
	}
	sum := sha256.Sum256([]byte(credential))
	d.mu.RLock()
	defer d.mu.RUnlock()
	s := d.byName[provider]
	if s == nil {
		return "", false
	}
	if names, shared := s.shared[sum]; shared {
		return names, false // several accounts': whose, no callback can say
	}
	name, ok := s.webhook[sum]
	return name, ok
}

// Count implements bridge.Accounts.
func (d *Dir) Count(provider string) int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if s := d.byName[provider]; s != nil {
		return len(s.accounts)
	}
	return 0
}

// Receiver implements bridge.Accounts: any account's client.
func (d *Dir) Receiver(provider string) paybridge.WebhookReceiver {
	for _, p := range d.cfg.Providers {
		if p.Name != provider {
			continue
		}
		// A client with no credential of its account reads callbacks as
		// well as any: it is never asked to authorize one.
		creds := providers.Credentials{}
		for _, c := range p.Credentials {
			if c.Required {
				creds[c.Name] = "-"
			}
		}
		baseURL := d.cfg.BaseURLs[p.Name]
		if baseURL == "" {
			baseURL = p.DefaultBaseURL
		}
		client, err := p.New(baseURL, creds)
		if err != nil {
			return nil
		}
		r, _ := client.(paybridge.WebhookReceiver)
		return r
	}
	return nil
}
