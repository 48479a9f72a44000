package main

import (
	"net/url"
	"strconv"
	"time"

	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/internal/cli"
	"github.com/paybridge/paybridge/natsembed"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/muvinai"
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

	coinbar, muvinai    providerConfig
	muvinaiWebhookToken string

	bridge bridge.Config // everything but Logger and Registerer
}

// providerConfig is one provider's endpoint and credentials; it is enabled
// when it has a key.
type providerConfig struct {
	baseURL   string
	apiKey    string
	secretKey string // CoinbarPay only
}

func (p providerConfig) enabled() bool { return p.apiKey != "" }

// secrets are the configured values no output may show.
func (c *serveConfig) secrets() []string {
	return append(append(urlSecrets(c.nats.url), urlSecrets(c.tracing.endpoint)...), c.coinbar.apiKey, c.coinbar.secretKey, c.muvinai.apiKey, c.muvinaiWebhookToken)
}

// Defaults of serve's own flags (docs/contract.md, "Serve flags"); the
// bridge's come from bridge.DefaultConfig, the providers' base URLs from
// their packages.
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

	f.StringVar(&c.coinbar.baseURL, "coinbar-base-url", coinbar.DefaultBaseURL, "CoinbarPay API base URL (production: https://pay.coinbar.io)")
	f.secretVar(&c.coinbar.apiKey, "coinbar-api-key", "CoinbarPay SERVICE_CLIENT_ID; enables CoinbarPay")
	f.secretVar(&c.coinbar.secretKey, "coinbar-secret-key", "CoinbarPay SERVICE_SECRET_KEY; when set, requests are signed")
	f.StringVar(&raw.coinbarRate, "coinbar-rate", "", "CoinbarPay call budget, calls/duration such as 1000/24h; empty: unlimited")
	f.StringVar(&c.muvinai.baseURL, "muvinai-base-url", muvinai.DefaultBaseURL, "Muvinai (SimpleFi) API base URL")
	f.secretVar(&c.muvinai.apiKey, "muvinai-api-key", "Muvinai API key (bearer token); enables Muvinai")
	f.StringVar(&raw.muvinaiRate, "muvinai-rate", "", "Muvinai call budget, calls/duration such as 5/1s; empty: unlimited")
	f.secretVar(&c.muvinaiWebhookToken, "muvinai-webhook-token", "token a Muvinai webhook URL must carry (?token=); empty refuses Muvinai webhooks")

	f.StringVar(&raw.watchSchedule, "watch-schedule", bridge.FormatSchedule(def.WatchSchedule), "delays between re-checks of a watched payment, the last repeating")
	f.DurationVar(&c.bridge.WatchDeadline, "watch-deadline", def.WatchDeadline, "how long a payment is watched before a watch-expired event")
	f.IntVar(&c.bridge.MaxInflight, "max-inflight", def.MaxInflight, "checks processed at once, shared by the providers, first come, each with a reserve of a sixteenth more that only it may use; past them a check is answered overloaded (fire-and-forget ones queue)")
	f.IntVar(&c.bridge.MaxWatches, "max-watches", def.MaxWatches, "watches and webhook triggers stored per provider; more are refused as overloaded")
	f.Int64Var(&c.bridge.WatchStreamMaxBytes, "watch-stream-max-bytes", def.WatchStreamMaxBytes, "bytes JetStream reserves for the watch stream when paybridge creates it; 0: a quarter of the room JetStream has, at most 1 GiB")
	f.DurationVar(&c.bridge.StatusRetention, "status-retention", def.StatusRetention, "how long a stored status is kept after it was last written (a watched payment's, at least until its watch ends)")
	f.IntVar(&c.bridge.CacheSize, "cache-size", def.CacheSize, "payments whose status is kept in memory to answer checks without a KV read; the least recently used go first")
	f.StringVar(&raw.replicas, "replicas", strconv.Itoa(def.Replicas), "replicas (1 or 3) of the streams and bucket paybridge creates")
	f.StringVar(&raw.eventMode, "event-mode", def.EventMode.String(), "CloudEvents content mode of published events: binary or structured")
	return f
}

// rawServeFlags are the flags whose text is parsed after the command line,
// so that a bad value is reported naming its flag or variable.
type rawServeFlags struct {
	coinbarRate, muvinaiRate string
	watchSchedule            string
	replicas                 string
	eventMode                string
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
	if !c.coinbar.enabled() && !c.muvinai.enabled() {
		return cli.Usagef("no provider enabled: set --coinbar-api-key or --muvinai-api-key (or %s, %s or their _FILE variables)",
			envName("coinbar-api-key"), envName("muvinai-api-key"))
	}
	for _, name := range []string{"coinbar-base-url", "muvinai-base-url"} {
		if err := checkBaseURL(f.where(name), f.Lookup(name).Value.String()); err != nil {
			return err
		}
	}

	b := &c.bridge
	b.Limits = map[string]bridge.Rate{}
	for _, provider := range []string{coinbar.Name, muvinai.Name} {
		text := f.Lookup(provider + "-rate").Value.String()
		rate, err := bridge.ParseRate(text)
		if err != nil {
			return f.bad(provider+"-rate", err.Error())
		}
		if rate.N > 0 {
			b.Limits[provider] = rate
		}
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
		return f.bad("watch-stream-max-bytes", "must be 0 (sized from the room JetStream has) or at least 1048576 (1 MiB)")
	}
	if b.StatusRetention < time.Second {
		return f.bad("status-retention", "must be at least 1s")
	}
	if b.CacheSize < 1 {
		return f.bad("cache-size", "must be at least 1")
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

// checkListen checks that the flag called name is a host:port to listen on.
func checkListen(f *flagSet, name string) error {
	if _, _, err := natsembed.ParseListen(f.Lookup(name).Value.String()); err != nil {
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
