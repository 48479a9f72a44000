package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/cmd/paysim/sim"
	"github.com/paybridge/paybridge/internal/cli"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/all"
)

// options are the command line, parsed and checked.
type options struct {
	self       bool
	natsURL    string
	payments   int
	prefix     string
	provider   string                 // as given: all, or provider names
	providers  []providers.Descriptor // what --provider names, checked in turn
	rate       float64
	concurrent int
	duration   time.Duration
	warmup     time.Duration
	timeout    time.Duration
	prime      bool

	changeShare     float64
	providerLatency time.Duration
	maxAge          time.Duration
	maxInflight     int

	floor        bool
	compare      bool
	floorKind    string // client or raw
	latencyAdded bool
	burst        int
	flood        int
	floodBytes   int

	// scale > 0: fill the status bucket with that many settled payments
	// and measure a restart of the bridge against it (scale.go).
	scale       int
	scaleSettle time.Duration

	// watches > 0: fill the durable intake with that many watched checks
	// of payments that stay pending, and measure the watches (watches.go).
	watches          int
	watchSchedule    []time.Duration // the bridge's --watch-schedule
	watchOutstanding int             // intake publishes awaiting their PubAck at most
	watchDirect      time.Duration   // direct checks at the re-check rate first; 0: none

	// natsMode is where the --self world's NATS server runs: in-process
	// (embedded in paybench) or subprocess (a real nats-server, built
	// from this module's go.mod unless natsBin names one).
	natsMode    string
	natsBin     string
	natsProfile string   // a CPU profile of nats-server during the measured window
	bridgeFlags []string // more flags for `paybridge serve`

	json       bool
	metricsURL string
	cpuProfile string
	worldProf  string
	bridgeMode string // subprocess or in-process, with --self
	bridgeBin  string

	// Against an external bridge: where its paysim is, for --floor, and
	// the credentials it accepts, taken by paysim's own flags (so that one
	// started with defaults needs none).
	paysimURL         string
	paysimCredentials map[string]providers.Credentials
	checkSubject      string
	bucket            string
	eventStream       string
	given             map[string]bool // flags set on the command line
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("paybench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.self, "self", false, "start an embedded NATS server, paysim and a bridge, and measure those")
	fs.StringVar(&o.natsURL, "nats-url", "", "NATS server of a running paybridge to measure (instead of --self)")
	fs.IntVar(&o.payments, "payments", 10000, "distinct payment ids checked in turn")
	fs.StringVar(&o.prefix, "prefix", "sim-", "payment ids are <prefix><provider>-0001…, as paysim --prefix generates them")
	fs.StringVar(&o.provider, "provider", "all", "the providers whose payments are checked, in turn: all, or names separated by commas ("+providerNames()+")")
	fs.Float64Var(&o.rate, "rate", 0, "checks per second, sent on schedule whatever the replies do (open loop); 0: closed loop")
	fs.IntVar(&o.concurrent, "concurrency", 64, "checks in flight at once in a closed loop")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time of each run; 0 skips the timed runs")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured time before each run")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "how long one check may take before it counts as a timeout")
	fs.BoolVar(&o.prime, "prime", true, "check every payment once before measuring, so the store holds a record of each")
	fs.Float64Var(&o.changeShare, "change-share", 0.01, "share of payments whose status paysim changes per pass over all payments (--self)")
	fs.DurationVar(&o.providerLatency, "provider-latency", 0, "paysim's delay of every answer (--self)")
	fs.DurationVar(&o.maxAge, "max-age", 0, "max_age sent in every check; 0: none")
	fs.IntVar(&o.maxInflight, "max-inflight", 1024, "the bridge's --max-inflight (--self)")
	fs.BoolVar(&o.floor, "floor", false, "measure the floor instead of the bridge: one provider GET and one KV read per check")
	fs.BoolVar(&o.compare, "compare", false, "measure the floor, then the bridge, with the same settings, and print bridge/floor")
	fs.StringVar(&o.floorKind, "floor-kind", floorClient, "client: the real provider client's Check and one KV read; raw: a plain HTTP GET, a generic JSON decode and one KV read")
	fs.BoolVar(&o.latencyAdded, "latency-added", false, "report reply time minus paysim's handling time of the check's request (--self; --rate defaults to 1000)")
	fs.IntVar(&o.scale, "scale", 0, "fill the status bucket with this many settled payments, restart the bridge and measure what the restart costs (--self); --payments defaults to 100000 and --rate to 1000 then")
	fs.DurationVar(&o.scaleSettle, "scale-settle", 30*time.Second, "with --scale: how long the restarted bridge's CPU and memory are followed from its start")
	fs.IntVar(&o.burst, "burst", 0, "after the runs, send this many checks of one payment at once and count the provider calls")
	fs.IntVar(&o.flood, "flood", 0, "after the runs, publish this many fire-and-forget checks padded to --flood-bytes as fast as NATS takes them, and report the bridge's peak RSS and drops (--self)")
	fs.IntVar(&o.floodBytes, "flood-bytes", 60_000, "with --flood: the size of each check, white space around its JSON (at most 65536)")
	fs.IntVar(&o.watches, "watches", 0, "publish this many checks with watch: true of payments that stay pending to the durable intake (payments.check.queued), then measure the watches: intake time, drops, re-check rate and lag, CPU per re-check of the bridge and of NATS, RSS (--self; --nats defaults to subprocess)")
	schedule := fs.String("watch-schedule", "1s,120s", "with --watches: the bridge's --watch-schedule")
	fs.IntVar(&o.watchOutstanding, "watch-outstanding", 1500, "with --watches: intake publishes awaiting their acknowledgement at most")
	fs.DurationVar(&o.watchDirect, "watch-direct", 30*time.Second, "with --watches: first measure direct checks at the re-check rate for this long (the cost a re-check is compared with); 0: none")
	fs.StringVar(&o.natsMode, "nats", "in-process", "with --self: run the NATS server in-process (embedded in paybench) or as a subprocess (a real nats-server: its own CPU, RSS and --nats-cpuprofile)")
	fs.StringVar(&o.natsBin, "nats-server-bin", "", "with --nats subprocess: a built nats-server binary; default: go build of this module's nats-server")
	fs.StringVar(&o.natsProfile, "nats-cpuprofile", "", "with --nats subprocess: write a CPU profile of nats-server during the measured window to this file")
	fs.Func("bridge-flag", "with --self and --bridge subprocess: one more flag for `paybridge serve`, as --name=value (repeatable)", func(v string) error {
		o.bridgeFlags = append(o.bridgeFlags, v)
		return nil
	})
	fs.BoolVar(&o.json, "json", false, "print the result as JSON")
	fs.StringVar(&o.metricsURL, "metrics-url", "", "the bridge's /metrics, to count provider calls of an external bridge")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the bridge during the measured bridge run to this file")
	fs.StringVar(&o.worldProf, "world-cpuprofile", "", "write a CPU profile of paybench's own process (NATS server, paysim, load) during the measured bridge run (--self)")
	fs.StringVar(&o.bridgeMode, "bridge", "subprocess", "with --self: run `paybridge serve` as a subprocess (its own RSS), or in-process")
	fs.StringVar(&o.bridgeBin, "bridge-bin", "", "with --self: a built paybridge binary; default: go build ./cmd/paybridge")
	fs.StringVar(&o.paysimURL, "paysim-url", "", "base URL of the external bridge's paysim, for --floor and --compare")
	o.paysimCredentials = sim.CredentialFlags(fs)
	fs.StringVar(&o.checkSubject, "check-subject", paybridge.DefaultCheckSubject, "subject of check requests")
	fs.StringVar(&o.bucket, "bucket", "payment_status", "the bridge's status KV bucket, read by --floor")
	fs.StringVar(&o.eventStream, "event-stream", paybridge.DefaultEventStream, "the bridge's event stream, whose growth counts events")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, cli.Usagef("unexpected argument %q", fs.Arg(0))
	}
	o.given = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.given[f.Name] = true })
	var err error
	if o.watchSchedule, err = bridge.ParseSchedule(*schedule); err != nil {
		return options{}, cli.Usagef("--watch-schedule: %v", err)
	}
	return o, o.check()
}

// check rejects contradictory or out-of-range flags, and fills in what
// follows from the others.
func (o *options) check() error {
	if o.watches > 0 && !o.given["nats"] {
		o.natsMode = "subprocess" // --watches measures NATS apart
	}
	switch {
	case o.self == (o.natsURL != ""):
		return cli.Usagef("give exactly one of --self and --nats-url")
	case o.payments < 1:
		return cli.Usagef("--payments must be at least 1, got %d", o.payments)
	case o.rate < 0:
		return cli.Usagef("--rate must not be negative, got %v", o.rate)
	case o.concurrent < 1:
		return cli.Usagef("--concurrency must be at least 1, got %d", o.concurrent)
	case o.duration < 0 || o.warmup < 0 || o.timeout <= 0:
		return cli.Usagef("--duration and --warmup must not be negative, --timeout must be positive")
	case o.changeShare < 0 || o.changeShare > 1:
		return cli.Usagef("--change-share must be between 0 and 1, got %v", o.changeShare)
	case o.providerLatency < 0 || o.maxAge < 0:
		return cli.Usagef("--provider-latency and --max-age must not be negative")
	case o.maxInflight < 1:
		return cli.Usagef("--max-inflight must be at least 1, got %d", o.maxInflight)
	case o.floor && o.compare:
		return cli.Usagef("--floor and --compare exclude each other: --compare runs the floor too")
	case o.floorKind != floorClient && o.floorKind != floorRaw:
		return cli.Usagef("--floor-kind must be client or raw, got %q", o.floorKind)
	case o.floorKind == floorRaw && !o.floor && !o.compare:
		return cli.Usagef("--floor-kind raw needs --floor or --compare")
	case o.burst < 0:
		return cli.Usagef("--burst must not be negative, got %d", o.burst)
	case o.flood < 0 || o.floodBytes < 0 || o.floodBytes > 64<<10:
		return cli.Usagef("--flood must not be negative and --flood-bytes must be 0 to 65536")
	case o.flood > 0 && !o.self:
		return cli.Usagef("--flood needs --self")
	case o.bridgeMode != "subprocess" && o.bridgeMode != "in-process":
		return cli.Usagef("--bridge must be subprocess or in-process, got %q", o.bridgeMode)
	case o.worldProf != "" && o.bridgeMode == "in-process" && o.cpuProfile != "":
		return cli.Usagef("--world-cpuprofile and --cpuprofile are one process with --bridge in-process; give one")
	case o.natsMode != "in-process" && o.natsMode != "subprocess":
		return cli.Usagef("--nats must be in-process or subprocess, got %q", o.natsMode)
	case o.natsProfile != "" && o.natsMode != "subprocess":
		return cli.Usagef("--nats-cpuprofile needs --nats subprocess (in process, --world-cpuprofile holds it)")
	case len(o.bridgeFlags) > 0 && o.bridgeMode != "subprocess":
		return cli.Usagef("--bridge-flag needs --bridge subprocess")
	}
	var err error
	if o.providers, err = parseProviders(o.provider); err != nil {
		return err
	}
	if !o.self {
		if err := o.checkExternal(); err != nil {
			return err
		}
	}
	if err := o.checkScale(); err != nil {
		return err
	}
	if err := o.checkWatches(); err != nil {
		return err
	}
	if o.latencyAdded && o.rate == 0 {
		o.rate = 1000
	}
	return nil
}

// parseProviders reads --provider: "all" (or "both", its older name), or
// provider names separated by commas, each at most once.
func parseProviders(text string) ([]providers.Descriptor, error) {
	if text == "all" || text == "both" {
		return all.List, nil
	}
	var out []providers.Descriptor
	for _, name := range strings.Split(text, ",") {
		d, ok := all.Lookup(strings.TrimSpace(name))
		if !ok || slices.ContainsFunc(out, func(o providers.Descriptor) bool { return o.Name == d.Name }) {
			return nil, cli.Usagef("--provider must be all or provider names separated by commas (%s), each once, got %q", providerNames(), text)
		}
		out = append(out, d)
	}
	return out, nil
}

// providerNames lists every provider's name.
func providerNames() string {
	var names []string
	for _, d := range all.List {
		names = append(names, d.Name)
	}
	return strings.Join(names, ", ")
}

// checkScale checks --scale and its companions, and sets the defaults of
// its load window: 1,000 checks/s over 100,000 payments.
func (o *options) checkScale() error {
	switch {
	case o.scale < 0:
		return cli.Usagef("--scale must not be negative, got %d", o.scale)
	case o.scale == 0 && o.given["scale-settle"]:
		return cli.Usagef("--scale-settle needs --scale")
	case o.scale == 0:
		return nil
	case !o.self:
		return cli.Usagef("--scale needs --self: it fills the bucket of a world of its own")
	case o.bridgeMode != "subprocess":
		return cli.Usagef("--scale restarts `paybridge serve`: it needs --bridge subprocess")
	case o.floor:
		return cli.Usagef("--scale and --floor exclude each other: --floor skips the bridge run whose memory --scale reports")
	case o.scaleSettle <= 0:
		return cli.Usagef("--scale-settle must be positive, got %s", o.scaleSettle)
	}
	if !o.given["payments"] {
		o.payments = 100000
	}
	if !o.given["rate"] {
		o.rate = 1000
	}
	return nil
}

// checkWatches checks --watches and its companions, and sets what follows
// from it: the measured window two last
// steps of the schedule long, after a wait of the first step and 5 s.
func (o *options) checkWatches() error {
	switch {
	case o.watches < 0:
		return cli.Usagef("--watches must not be negative, got %d", o.watches)
	case o.watches == 0:
		for _, name := range []string{"watch-schedule", "watch-outstanding", "watch-direct"} {
			if o.given[name] {
				return cli.Usagef("--%s needs --watches", name)
			}
		}
		return nil
	case !o.self:
		return cli.Usagef("--watches needs --self: it fills a world of its own with pending payments")
	case o.scale > 0 || o.floor || o.compare || o.burst > 0 || o.flood > 0:
		return cli.Usagef("--watches excludes --scale, --floor, --compare, --burst and --flood")
	case o.watchOutstanding < 1:
		return cli.Usagef("--watch-outstanding must be at least 1, got %d", o.watchOutstanding)
	case o.watchDirect < 0:
		return cli.Usagef("--watch-direct must not be negative")
	}
	// The watched payments are the pool's, and none of them moves.
	o.payments, o.changeShare = o.watches, 0
	last := o.watchSchedule[len(o.watchSchedule)-1]
	if !o.given["duration"] {
		o.duration = 2 * last
	}
	if !o.given["warmup"] {
		o.warmup = o.watchSchedule[0] + 5*time.Second
	}
	if o.duration <= 0 {
		return cli.Usagef("--watches needs a positive --duration: the window its re-checks are measured over")
	}
	return nil
}

// checkExternal checks what needs the world that --self would build.
func (o *options) checkExternal() error {
	switch {
	case o.given["change-share"] && o.changeShare > 0:
		return cli.Usagef("--change-share needs --self: paybench cannot move an external paysim's payments")
	case o.providerLatency > 0:
		return cli.Usagef("--provider-latency needs --self; start the external paysim with --latency")
	case o.latencyAdded:
		return cli.Usagef("--latency-added needs --self: it reads paysim's handling time of each request")
	case o.cpuProfile != "" || o.worldProf != "":
		return cli.Usagef("--cpuprofile and --world-cpuprofile need --self; profile an external bridge with its own --pprof")
	case (o.floor || o.compare) && o.paysimURL == "":
		return cli.Usagef("--floor and --compare against an external bridge need --paysim-url")
	}
	o.changeShare = 0
	return nil
}

// describe is a one-line summary of the load, for the report.
func (o options) describe() string {
	load := fmt.Sprintf("closed loop, %d in flight", o.concurrent)
	if o.rate > 0 {
		load = fmt.Sprintf("open loop, %.0f checks/s", o.rate)
	}
	s := fmt.Sprintf("%d payments (%s), %s, %s measured after %s warm-up, %.2f%% changing per pass, provider latency %s",
		o.payments, o.provider, load, o.duration, o.warmup, o.changeShare*100, o.providerLatency)
	if o.floor || o.compare {
		s += ", " + o.floorKind + " floor"
	}
	if o.scale > 0 {
		s += fmt.Sprintf(", after a restart against %d stored payments", o.scale)
	}
	if o.watches > 0 {
		s = fmt.Sprintf("%d watched payments, all pending, schedule %s, intake by payments.check.queued with at most %d outstanding; re-checks measured over %s after %s, NATS %s",
			o.watches, bridge.FormatSchedule(o.watchSchedule), o.watchOutstanding, o.duration, o.warmup, o.natsMode)
	}
	if len(o.bridgeFlags) > 0 {
		s += ", bridge flags " + strings.Join(o.bridgeFlags, " ")
	}
	return s
}
