package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/internal/cli"
	"github.com/paybridge/paybridge/natsembed"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/all"
)

// serveConfig is serve's command line, parsed and checked: everything
// needed to start, nothing started.
type serveConfig struct {
	nats           natsFlags
	embeddedListen string // used when nats.url is empty
	dataDir        string
	httpListen     string
	adminListen    string
	pprof          bool
	log            logFlags
	tracing        tracingFlags

	// providers are every provider of all.List, in its order, enabled or not.
	providers []providerConfig
	// accountsDir holds merchant accounts, <dir>/<provider>/<account>/;
	// empty for none.
	accountsDir string

	bridge bridge.Config // everything but Logger and Registerer
}

// providerConfig is one provider's endpoint and credentials, from its
// flags --<provider>-base-url and --<provider>-<credential>.
type providerConfig struct {
	providers.Descriptor
	baseURL     string
	credentials providers.Credentials
	// hasAccounts: the accounts directory has a subdirectory for it.
	hasAccounts bool
}

// enabled reports whether the provider is served: every required
// credential is set, or it has merchant accounts.
func (p providerConfig) enabled() bool { return p.hasDefault() || p.hasAccounts }

// hasDefault reports whether the flags configure its default account.
func (p providerConfig) hasDefault() bool { return p.Enabled(p.credentials) }

// secrets are the configured values no output may show: the NATS and OTLP
// URLs' passwords and tokens, and every provider's secret credentials.
func (c *serveConfig) secrets() []string {
	out := append(urlSecrets(c.nats.url), urlSecrets(c.tracing.endpoint)...)
	for _, p := range c.providers {
		for _, cred := range p.Credentials {
			if cred.Secret {
				out = append(out, p.credentials[cred.Name])
			}
		}
	}
	return out
}

// Defaults of serve's own flags (docs/contract.md, "Serve flags"); the
// bridge's come from bridge.DefaultConfig, the providers' base URLs from
// their descriptors.
const (
	defaultEmbeddedListen = "127.0.0.1:4222"
	defaultDataDir        = "./data/nats"
	defaultHTTPListen     = "127.0.0.1:8080"
	defaultAdminListen    = "127.0.0.1:9090"
)

// serveFlags defines serve's flags on a new flagSet, filling c.
func serveFlags(c *serveConfig, raw *rawServeFlags) *flagSet {
	def := bridge.DefaultConfig()
	f := newFlagSet("serve", "serve [flags]")
	c.nats.register(f, "", "NATS server URL(s), comma-separated; empty starts an embedded NATS server with JetStream")
	f.StringVar(&c.embeddedListen, "embedded-listen", defaultEmbeddedListen, "host:port of the embedded NATS server (without --nats-url); port -1 picks a free one")
	f.StringVar(&c.dataDir, "data-dir", defaultDataDir, "directory of the embedded NATS server's JetStream data (without --nats-url)")
	f.StringVar(&c.httpListen, "http-listen", defaultHTTPListen, "host:port of /webhooks/, /healthz and /readyz; may face the internet")
	f.StringVar(&c.adminListen, "admin-listen", defaultAdminListen, "host:port of /metrics, /healthz, /readyz and, with --pprof, /debug/pprof/; keep it private")
	f.BoolVar(&c.pprof, "pprof", false, "also serve net/http/pprof under /debug/pprof/ on --admin-listen")
	c.log.register(f, "info")
	c.tracing.register(f)

	for _, d := range all.List {
		providerFlags(f, d)
	}
	f.StringVar(&c.accountsDir, "accounts-dir", "", "directory of merchant accounts, <dir>/<provider>/<account>/ with one file per credential (one Kubernetes Secret per account), followed as it changes; empty: none")

	f.StringVar(&raw.watchSchedule, "watch-schedule", bridge.FormatSchedule(def.WatchSchedule), "delays between re-checks of a watched payment, the last repeating")
	f.DurationVar(&c.bridge.WatchDeadline, "watch-deadline", def.WatchDeadline, "how long a payment is watched before a watch-expired event")
	f.IntVar(&c.bridge.MaxInflight, "max-inflight", def.MaxInflight, "checks processed at once, shared by the providers, first come, each with a reserve of a sixteenth more that only it may use; past them a check is answered overloaded (fire-and-forget ones queue)")
	f.IntVar(&c.bridge.MaxWatches, "max-watches", def.MaxWatches, "watches and webhook triggers stored per provider; more are refused as overloaded")
	f.Int64Var(&c.bridge.WatchStreamMaxBytes, "watch-stream-max-bytes", def.WatchStreamMaxBytes, "bytes JetStream reserves for the watch stream when paybridge creates it; 0: none (its message limits bound it), unless the account requires one")
	f.DurationVar(&c.bridge.StatusRetention, "status-retention", def.StatusRetention, "how long a stored status is kept after it was last written (a watched payment's, at least until its watch ends)")
	f.IntVar(&c.bridge.CacheSize, "cache-size", def.CacheSize, "payments whose status is kept in memory to answer checks without a KV read; the least recently used go first")
	f.StringVar(&raw.replicas, "replicas", strconv.Itoa(def.Replicas), "replicas (1 or 3) of the streams and bucket paybridge creates")
	f.StringVar(&raw.eventMode, "event-mode", def.EventMode.String(), "CloudEvents content mode of published events: binary or structured")
	return f
}

// providerFlags defines a provider's flags: --<provider>-base-url, one per
// credential (a secret one also read from a file), and --<provider>-rate.
// finish reads them back by name into serveConfig.providers.
func providerFlags(f *flagSet, d providers.Descriptor) {
	baseURLUsage := d.Title + " API base URL"
	if d.BaseURLNote != "" {
		baseURLUsage += " (" + d.BaseURLNote + ")"
	}
	f.String(d.Flag("base-url"), d.DefaultBaseURL, baseURLUsage)
	for _, cred := range d.Credentials {
		if cred.Secret {
			f.secretVar(new(string), d.Flag(cred.Name), cred.Usage)
		} else {
			f.String(d.Flag(cred.Name), "", cred.Usage)
		}
	}
	f.String(d.Flag("rate"), "", d.Title+" call budget, calls/duration such as "+d.RateExample+"; empty: unlimited")
}

// rawServeFlags are the flags whose text is parsed after the command line,
// so that a bad value is reported naming its flag or variable.
type rawServeFlags struct {
	watchSchedule string
	replicas      string
	eventMode     string
}

// parseServe reads and checks serve's flags and variables.
func parseServe(args []string, lookupEnv func(string) (string, bool)) (serveConfig, *flagSet, error) {
	var c serveConfig
	var raw rawServeFlags
	f := serveFlags(&c, &raw)
	pos, err := f.parse(args, lookupEnv)
	if err != nil {
		return c, f, err
	}
	if len(pos) > 0 {
		return c, f, cli.Usagef("serve takes no arguments, got %q", pos[0])
	}
	return c, f, c.finish(f, raw)
}

// finish checks c and converts the raw flags into the bridge's Config.
func (c *serveConfig) finish(f *flagSet, raw rawServeFlags) error {
	// First: whatever is refused next, secrets() holds every credential.
	for _, d := range all.List {
		c.providers = append(c.providers, readProvider(f, d))
	}
	if err := c.nats.validate(f); err != nil {
		return err
	}
	if err := c.log.validate(f); err != nil {
		return err
	}
	if err := c.tracing.validate(f); err != nil {
		return err
	}
	for _, name := range []string{"embedded-listen", "http-listen", "admin-listen"} {
		if err := checkListen(f, name); err != nil {
			return err
		}
	}
	if c.nats.url == "" && c.dataDir == "" {
		return f.bad("data-dir", "the embedded NATS server needs a data directory")
	}
	if err := c.findAccounts(f); err != nil {
		return err
	}
	b := &c.bridge
	b.Limits = map[string]bridge.Rate{}
	for _, p := range c.providers {
		if err := p.check(f); err != nil {
			return err
		}
		rate, err := bridge.ParseRate(f.value(p.Flag("rate")))
		if err != nil {
			return f.bad(p.Flag("rate"), err.Error())
		}
		if rate.N > 0 {
			b.Limits[p.Name] = rate
		}
	}
	if !slices.ContainsFunc(c.providers, providerConfig.enabled) {
		return noProviderEnabled()
	}
	var err error
	if b.WatchSchedule, err = bridge.ParseSchedule(raw.watchSchedule); err != nil {
		return f.bad("watch-schedule", err.Error())
	}
	if b.WatchDeadline <= 0 {
		return f.bad("watch-deadline", "must be positive")
	}
	if b.MaxInflight < 1 {
		return f.bad("max-inflight", "must be at least 1")
	}
	if b.MaxWatches < 1 {
		return f.bad("max-watches", "must be at least 1")
	}
	if b.WatchStreamMaxBytes != 0 && b.WatchStreamMaxBytes < 1<<20 {
		return f.bad("watch-stream-max-bytes", "must be 0 (none) or at least 1048576 (1 MiB)")
	}
	if b.StatusRetention < time.Second {
		return f.bad("status-retention", "must be at least 1s")
	}
	if b.CacheSize < 1 || b.CacheSize > bridge.MaxCacheSize {
		return f.bad("cache-size", fmt.Sprintf("must be between 1 and %d", bridge.MaxCacheSize))
	}
	switch raw.replicas {
	case "1", "3":
		b.Replicas, _ = strconv.Atoi(raw.replicas)
	default:
		return f.bad("replicas", "must be 1 or 3")
	}
	if b.Replicas == 3 && c.nats.url == "" {
		return f.bad("replicas", "needs --nats-url: the embedded NATS server is a single node")
	}
	if b.EventMode, err = events.ParseMode(raw.eventMode); err != nil {
		return f.bad("event-mode", "want binary or structured")
	}
	return nil
}

// findAccounts checks --accounts-dir and marks the providers it has a
// subdirectory for: they are served even without a default key. Accounts
// added later under any served provider are taken without a restart; a
// provider served by neither its flags nor a subdirectory at the start
// needs one.
func (c *serveConfig) findAccounts(f *flagSet) error {
	if c.accountsDir == "" {
		return nil
	}
	info, err := os.Stat(c.accountsDir)
	switch {
	case err != nil:
		return f.bad("accounts-dir", errors.Unwrap(err).Error())
	case !info.IsDir():
		return f.bad("accounts-dir", "not a directory")
	}
	for i, p := range c.providers {
		info, err := os.Stat(filepath.Join(c.accountsDir, p.Name))
		c.providers[i].hasAccounts = err == nil && info.IsDir()
	}
	return nil
}

// readProvider reads a provider's flags, unchecked.
func readProvider(f *flagSet, d providers.Descriptor) providerConfig {
	p := providerConfig{Descriptor: d, baseURL: f.value(d.Flag("base-url")), credentials: providers.Credentials{}}
	for _, cred := range d.Credentials {
		if value := f.value(d.Flag(cred.Name)); value != "" {
			p.credentials[cred.Name] = value
		}
	}
	return p
}

// check refuses some of a provider's required credentials without the
// others, and an enabled provider's bad base URL. A disabled one's is not
// checked, so that a provider without a public host needs no made-up
// default.
func (p providerConfig) check(f *flagSet) error {
	var set, unset []string
	for _, cred := range p.Credentials {
		switch {
		case !cred.Required:
		case p.credentials[cred.Name] != "":
			set = append(set, f.where(p.Flag(cred.Name)))
		default:
			unset = append(unset, "--"+p.Flag(cred.Name))
		}
	}
	switch {
	case len(set) > 0 && len(unset) > 0:
		return cli.Usagef("%s is set but %s is not: %s needs each", strings.Join(set, ", "), strings.Join(unset, ", "), p.Name)
	case !p.enabled():
		return nil
	case p.baseURL == "":
		return cli.Usagef("%s is empty: %s needs the base URL of its API", f.where(p.Flag("base-url")), p.Name)
	}
	return checkBaseURL(f.where(p.Flag("base-url")), p.baseURL)
}

// noProviderEnabled names the credentials that would enable each provider.
func noProviderEnabled() error {
	var flags, vars []string
	for _, d := range all.List {
		var required []string
		for _, cred := range d.Credentials {
			if cred.Required {
				required = append(required, "--"+d.Flag(cred.Name))
				vars = append(vars, envName(d.Flag(cred.Name)))
			}
		}
		flags = append(flags, strings.Join(required, " and "))
	}
	return cli.Usagef("no provider enabled: set %s (or %s or their _FILE variables), or give --accounts-dir a subdirectory per provider", orList(flags), strings.Join(vars, ", "))
}

// orList joins items as a sentence does: "a", "a or b", "a, b or c".
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// checkListen checks that the flag called name is a host:port to listen on.
func checkListen(f *flagSet, name string) error {
	if _, _, err := natsembed.ParseListen(f.value(name)); err != nil {
		return f.bad(name, "want host:port, e.g. 127.0.0.1:8080")
	}
	return nil
}

// checkBaseURL catches the mistakes in a provider's base URL worth a
// message naming the flag; the provider's client checks the rest. The URL
// is shown without its user information.
func checkBaseURL(where, raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return cli.Usagef("%s: not a URL", where)
	case u.Scheme != "http" && u.Scheme != "https":
		return cli.Usagef("%s %q: want an http or https URL", where, redactURL(raw))
	case u.Host == "":
		return cli.Usagef("%s %q: no host", where, redactURL(raw))
	}
	return nil
}
