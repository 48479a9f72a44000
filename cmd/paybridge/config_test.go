package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/internal/cli"
	"github.com/paybridge/paybridge/providers/all"
)

// strayAtError is the error of a NATS URL whose password, not
// percent-encoded, ended its host early; it does not show the URL.
const strayAtError = `a URL has an "@" outside its user information: percent-encode the password ` +
	`(% as %25, / as %2F, ? as %3F, # as %23, @ as %40, a comma as %2C)`

// TestConfigErrors: every bad value stops the binary at once with one
// line naming the flag or variable, and the usage exit status.
func TestConfigErrors(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	must(t, os.WriteFile(keyFile, []byte("k\n"), 0o600))
	for _, c := range []struct {
		name string
		env  []string
		args []string
		want string
		code int
	}{
		{"bad NATS URL", nil, []string{"serve", "--nats-url", "ftp://x", "--coinbar-api-key", "k"},
			`paybridge: --nats-url "ftp://x": scheme must be nats, tls, ws or wss`, 2},
		{"NATS URL password hidden", nil, []string{"serve", "--nats-url", "nats://a,ftp://user:SECRET@x", "--coinbar-api-key", "k"},
			`paybridge: --nats-url "ftp://[redacted]@x": scheme must be nats, tls, ws or wss`, 2},
		{"NATS URL token hidden", nil, []string{"check", "--nats-url", "ftp://tok-SECRET@x", "coinbar", "x"},
			`paybridge: --nats-url "ftp://[redacted]@x": scheme must be nats, tls, ws or wss`, 2},
		{"base URL credentials hidden", nil, []string{"serve", "--muvinai-api-key", "k", "--muvinai-base-url", "ftp://me:SECRET@api"},
			`paybridge: --muvinai-base-url "ftp://[redacted]@api": want an http or https URL`, 2},
		{"NATS password not percent-encoded", nil, []string{"check", "--nats-url", "nats://paybridge:12/pw-SECRET@nats.invalid:4222", "coinbar", "x"},
			`paybridge: --nats-url: ` + strayAtError, 2},
		{"NATS password with # in a list", []string{"PAYBRIDGE_NATS_URL=nats://127.0.0.1:4222, nats://paybridge:42#pw-SECRET@nats.invalid:4222"}, []string{"events"},
			`paybridge: PAYBRIDGE_NATS_URL: ` + strayAtError, 2},
		{"NATS password with ? for serve", nil, []string{"serve", "--coinbar-api-key", "k", "--nats-url", "nats://paybridge:7?pw-SECRET@nats.invalid:4222"},
			`paybridge: --nats-url: ` + strayAtError, 2},
		{"NATS password with a comma", nil, []string{"status", "--nats-url", "nats://paybridge:12,pw-SECRET@nats.invalid:4222", "coinbar", "x"},
			`paybridge: --nats-url: ` + strayAtError, 2},
		{"NATS password with a comma and no port", nil, []string{"status", "--nats-url", "nats://paybridge:p,w-SECRET@nats.invalid", "coinbar", "x"},
			`paybridge: --nats-url: ` + strayAtError, 2},
		{"NATS URL from the environment", []string{"PAYBRIDGE_NATS_URL=127.0.0.1:4222"}, []string{"check", "coinbar", "x"},
			`paybridge: PAYBRIDGE_NATS_URL: want URLs such as nats://127.0.0.1:4222`, 2},
		{"missing secret file", []string{"PAYBRIDGE_COINBAR_API_KEY_FILE=/nope"}, []string{"serve"},
			`paybridge: PAYBRIDGE_COINBAR_API_KEY_FILE: open /nope: no such file or directory`, 2},
		{"secret twice", []string{"PAYBRIDGE_MUVINAI_API_KEY=SECRET", "PAYBRIDGE_MUVINAI_API_KEY_FILE=" + keyFile}, []string{"serve"},
			`paybridge: PAYBRIDGE_MUVINAI_API_KEY and PAYBRIDGE_MUVINAI_API_KEY_FILE are both set; use one`, 2},
		{"unknown flag", nil, []string{"serve", "--nope"},
			`paybridge: flag provided but not defined: -nope (see paybridge serve --help)`, 2},
		{"bad rate", nil, []string{"serve", "--coinbar-api-key", "k", "--coinbar-rate", "5"},
			`paybridge: --coinbar-rate "5": want calls/duration, e.g. 1000/24h`, 2},
		{"bad rate from the environment", []string{"PAYBRIDGE_MUVINAI_API_KEY_FILE=" + keyFile, "PAYBRIDGE_MUVINAI_RATE=0/1s"}, []string{"serve"},
			`paybridge: PAYBRIDGE_MUVINAI_RATE "0/1s": calls must be a whole number of at least 1`, 2},
		{"no watches", nil, []string{"serve", "--coinbar-api-key", "cb-key", "--max-watches", "0"},
			`paybridge: --max-watches "0": must be at least 1`, 2},
		{"no retention", nil, []string{"serve", "--coinbar-api-key", "cb-key", "--status-retention", "0s"},
			`paybridge: --status-retention "0s": must be at least 1s`, 2},
		{"bad otel protocol", nil, []string{"serve", "--coinbar-api-key", "cb-key", "--otel-protocol", "udp"},
			`paybridge: --otel-protocol "udp": want http/protobuf or grpc`, 2},
		{"bad otel endpoint", nil, []string{"serve", "--coinbar-api-key", "cb-key", "--otel-endpoint", "collector:4318"},
			`paybridge: --otel-endpoint "collector:4318": want a URL such as http://collector:4318`, 2},
		{"no cache", nil, []string{"serve", "--coinbar-api-key", "cb-key", "--cache-size", "0"},
			`paybridge: --cache-size "0": must be between 1 and 2147483647`, 2},
		{"cache past an int32", nil, []string{"serve", "--coinbar-api-key", "cb-key", "--cache-size", "2147483648"},
			`paybridge: --cache-size "2147483648": must be between 1 and 2147483647`, 2},
		{"replicas 2", nil, []string{"serve", "--coinbar-api-key", "k", "--nats-url", "nats://n:4222", "--replicas", "2"},
			`paybridge: --replicas "2": must be 1 or 3`, 2},
		{"replicas 3 embedded", nil, []string{"serve", "--coinbar-api-key", "k", "--replicas", "3"},
			`paybridge: --replicas "3": needs --nats-url: the embedded NATS server is a single node`, 2},
		{"bad schedule", nil, []string{"serve", "--coinbar-api-key", "k", "--watch-schedule", "1s,soon"},
			`paybridge: --watch-schedule "1s,soon": "soon" is not a positive duration`, 2},
		{"bad event mode", nil, []string{"serve", "--coinbar-api-key", "k", "--event-mode", "xml"},
			`paybridge: --event-mode "xml": want binary or structured`, 2},
		{"bad base URL", nil, []string{"serve", "--muvinai-api-key", "k", "--muvinai-base-url", "api.simplefi.tech"},
			`paybridge: --muvinai-base-url "api.simplefi.tech": want an http or https URL`, 2},
		{"bad duration", []string{"PAYBRIDGE_WATCH_DEADLINE=forever"}, []string{"serve", "--coinbar-api-key", "k"},
			`paybridge: PAYBRIDGE_WATCH_DEADLINE "forever": parse error`, 2},
		{"bad admin listen address", []string{"PAYBRIDGE_ADMIN_LISTEN=9090"}, []string{"serve", "--coinbar-api-key", "k"},
			`paybridge: PAYBRIDGE_ADMIN_LISTEN "9090": want host:port, e.g. 127.0.0.1:8080`, 2},
		{"bad log level", nil, []string{"serve", "--coinbar-api-key", "k", "--log-level", "loud"},
			`paybridge: --log-level "loud": want debug, info, warn or error`, 2},
		{"credentials without URL", nil, []string{"serve", "--coinbar-api-key", "cb-key", "--nats-creds", keyFile},
			`paybridge: --nats-creds "` + keyFile + `": needs --nats-url: the embedded server takes no credentials`, 2},
		{"missing credentials file", nil, []string{"status", "--nats-creds", "/nope.creds", "coinbar", "x"},
			`paybridge: --nats-creds: open /nope.creds: no such file or directory`, 2},
		{"control character in a key", nil, []string{"serve", "--coinbar-api-key", "SECRET\x01"},
			`paybridge: coinbar: client id must be non-empty, without control characters`, 2},
		{"check without arguments", nil, []string{"check"},
			`paybridge: check wants <provider> <payment-id> (see paybridge check --help)`, 2},
		{"bad max age", nil, []string{"check", "--max-age", "old", "coinbar", "x"},
			`paybridge: --max-age "old": want a duration such as 5m`, 2},
		{"unknown command", nil, []string{"frobnicate"},
			`paybridge: unknown command "frobnicate" (run paybridge help)`, 2},
		{"no NATS", nil, []string{"check", "--nats-url", "nats://127.0.0.1:1", "coinbar", "x"},
			`paybridge: connecting to NATS at nats://127.0.0.1:1: nats: no servers available for connection`, 1},
		{"clients read only the NATS variables", []string{"PAYBRIDGE_NATS_URL=nats://127.0.0.1:1", "PAYBRIDGE_TIMEOUT=soon"}, []string{"status", "coinbar", "x"},
			`paybridge: connecting to NATS at nats://127.0.0.1:1: nats: no servers available for connection`, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := run(t, testEnv(c.env...), c.args...)
			if stderr != c.want+"\n" || code != c.code {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and the one line\n%s", code, stderr, c.code, c.want)
			}
			if stdout != "" {
				t.Errorf("stdout: %q", stdout)
			}
			noSecrets(t, stderr)
		})
	}
}

// TestNoProviderEnabled: serve without a provider's required credentials
// refuses to start, naming each one's flag and variable.
func TestNoProviderEnabled(t *testing.T) {
	_, stderr, code := run(t, testEnv(), "serve")
	if code != 2 || !strings.HasPrefix(stderr, "paybridge: no provider enabled: set --") || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	for _, d := range all.List {
		for _, cred := range d.Credentials {
			if cred.Required && (!strings.Contains(stderr, "--"+d.Flag(cred.Name)) || !strings.Contains(stderr, envName(d.Flag(cred.Name)))) {
				t.Errorf("the message does not name --%s and %s:\n%s", d.Flag(cred.Name), envName(d.Flag(cred.Name)), stderr)
			}
		}
	}
	if err := noProviderEnabled(); len(all.List) == 2 && err.Error() != "no provider enabled: set --coinbar-api-key or --muvinai-api-key (or PAYBRIDGE_COINBAR_API_KEY, PAYBRIDGE_MUVINAI_API_KEY or their _FILE variables), or give --accounts-dir a subdirectory per provider" {
		t.Errorf("with the two providers: %v", err)
	}
}

// TestServeConfig: flags win over variables, secrets come from files
// without their newline, and the defaults are those of docs/contract.md, "Serve flags".
func TestServeConfig(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "muvinai-key")
	must(t, os.WriteFile(keyFile, []byte("mv-key\r\n"), 0o600))
	env := map[string]string{
		"PAYBRIDGE_COINBAR_RATE":         "not a rate",
		"PAYBRIDGE_MUVINAI_API_KEY_FILE": keyFile,
		"PAYBRIDGE_MUVINAI_RATE":         "5/1s",
		"PAYBRIDGE_EVENT_MODE":           "structured",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, _, err := parseServe([]string{"--coinbar-api-key", "cb-id", "--coinbar-rate", "1000/24h"}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if mv, cb := cfg.provider("muvinai").credentials["api-key"], cfg.provider("coinbar").credentials["api-key"]; mv != "mv-key" || cb != "cb-id" {
		t.Errorf("keys: coinbar %q, muvinai %q", cb, mv)
	}
	wantLimits := map[string]bridge.Rate{"coinbar": {N: 1000, Per: 24 * time.Hour}, "muvinai": {N: 5, Per: time.Second}}
	if len(cfg.bridge.Limits) != 2 || cfg.bridge.Limits["coinbar"] != wantLimits["coinbar"] || cfg.bridge.Limits["muvinai"] != wantLimits["muvinai"] {
		t.Errorf("limits: %v, want %v", cfg.bridge.Limits, wantLimits)
	}
	if cfg.bridge.EventMode != events.Structured {
		t.Errorf("event mode %v, want structured from the environment", cfg.bridge.EventMode)
	}

	cfg, _, err = parseServe([]string{"--coinbar-api-key", "k"}, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	wantSchedule := []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute}
	switch {
	case cfg.nats.url != "" || cfg.embeddedListen != "127.0.0.1:4222" || cfg.dataDir != "./data/nats":
		t.Errorf("NATS defaults: url %q, embedded %q, data %q", cfg.nats.url, cfg.embeddedListen, cfg.dataDir)
	case cfg.httpListen != "127.0.0.1:8080" || cfg.adminListen != "127.0.0.1:9090" || cfg.pprof:
		t.Errorf("HTTP defaults: %q, admin %q, pprof %v", cfg.httpListen, cfg.adminListen, cfg.pprof)
	case cfg.provider("coinbar").baseURL != "https://sandbox.coinbar.io" || cfg.provider("muvinai").baseURL != "https://api.simplefi.tech" || cfg.provider("muvinai").enabled():
		t.Errorf("provider defaults: %+v %+v", cfg.provider("coinbar"), cfg.provider("muvinai"))
	case !slices.Equal(cfg.bridge.WatchSchedule, wantSchedule) || cfg.bridge.WatchDeadline != 24*time.Hour:
		t.Errorf("watch defaults: %v, %v", cfg.bridge.WatchSchedule, cfg.bridge.WatchDeadline)
	case cfg.bridge.MaxInflight != 1024 || cfg.bridge.MaxWatches != 100_000 || cfg.bridge.StatusRetention != 30*24*time.Hour || cfg.bridge.CacheSize != 100_000 || cfg.bridge.Replicas != 1 || cfg.bridge.EventMode != events.Binary || len(cfg.bridge.Limits) != 0:
		t.Errorf("bridge defaults: %+v", cfg.bridge)
	}
}

// TestHelp: help lists the commands, and each command's --help every flag
// of its flag set and no other, with its default (never a secret's) and
// the variables that set it, and succeeds.
func TestHelp(t *testing.T) {
	var out bytes.Buffer
	if err := NewMain().Run(context.Background(), nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, c := range subcommands {
		if !strings.Contains(out.String(), "\n  "+c.name+" ") {
			t.Errorf("help does not list %s:\n%s", c.name, out.String())
		}
	}
	for _, c := range subcommands {
		out.Reset()
		m := NewMain()
		err := m.Run(context.Background(), []string{c.name, "--help"}, &out, &out)
		if !errors.Is(err, flag.ErrHelp) || cli.ExitCode(err) != 0 {
			t.Errorf("%s --help: %v", c.name, err)
		}
		must(t, m.Close())
		help := out.String()
		listed := map[string]string{} // flag → its entry: the lines up to the next flag
		var current string
		for _, line := range strings.Split(help, "\n") {
			if rest, ok := strings.CutPrefix(line, "  --"); ok {
				current, _, _ = strings.Cut(rest, " ")
			}
			if current != "" {
				listed[current] += line + "\n"
			}
		}
		f := c.flags()
		f.VisitAll(func(fl *flag.Flag) {
			entry, ok := listed[fl.Name]
			delete(listed, fl.Name)
			if !ok {
				t.Errorf("%s --help does not show --%s:\n%s", c.name, fl.Name, help)
				return
			}
			if !strings.Contains(entry, fl.Usage) && !strings.Contains(entry, strings.ReplaceAll(fl.Usage, "`", "")) {
				t.Errorf("%s --help: --%s without its usage:\n%s", c.name, fl.Name, entry)
			}
			shown := strings.Contains(entry, "(default "+fl.DefValue+")")
			if want := fl.DefValue != "" && fl.DefValue != "false" && !f.isSecret(fl.Name); shown != want {
				t.Errorf("%s --help: --%s shows its default %v, want %v:\n%s", c.name, fl.Name, shown, want, entry)
			}
			env := "[" + envName(fl.Name) + "]"
			if slices.Contains(f.fromFile, fl.Name) {
				env = "[" + envName(fl.Name) + " or " + envName(fl.Name) + "_FILE]"
			}
			if shown := strings.Contains(entry, env); shown != f.readsEnv(fl.Name) {
				t.Errorf("%s --help: --%s shows %s %v, want %v:\n%s", c.name, fl.Name, env, shown, f.readsEnv(fl.Name), entry)
			}
		})
		for name := range listed {
			t.Errorf("%s --help shows --%s, which it does not have", c.name, name)
		}
	}
}

// The soft memory limit follows the view of the bucket and the work in
// flight: about 160 bytes an entry, and 128 KiB a check in flight.
func TestMemoryLimitFollowsTheCacheAndTheWorkInFlight(t *testing.T) {
	def := memoryLimit(bridge.DefaultConfig().CacheSize, 0)
	if def > 56<<20 || def < 40<<20 {
		t.Fatalf("idle limit at the default cache size: %d MiB", def>>20)
	}
	if grown := memoryLimit(1_000_000, 0) - memoryLimit(100_000, 0); grown < 900_000*150 {
		t.Fatalf("900,000 more entries get %d more bytes", grown)
	}
	if busy := memoryLimit(100_000, 2000) - def; busy < 2000*64<<10 {
		t.Fatalf("2,000 checks in flight get %d MiB more", busy>>20)
	}
}

// serve sets its limit unless the environment already sets GOMEMLIMIT,
// and lets it alone pace the collector unless GOGC is set; the limit
// follows the most checks in flight over the last 10 s, rising at once and
// falling only once they are over.
func TestTuneGCFollowsTheWorkInFlight(t *testing.T) {
	before, percent := debug.SetMemoryLimit(-1), debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetMemoryLimit(before); debug.SetGCPercent(percent) })
	if tuner := tuneGC(func(k string) (string, bool) { return "1GiB", k == "GOMEMLIMIT" }, 1000); tuner != nil {
		t.Fatal("with GOMEMLIMIT set, serve tunes the limit")
	}
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("with GOMEMLIMIT set, the limit changed to %d", got)
	}
	tuner := tuneGC(func(string) (string, bool) { return "", false }, 1000)
	if got := debug.SetMemoryLimit(-1); got < memoryLimit(1000, 0) {
		t.Errorf("idle limit %d, want at least %d", got, memoryLimit(1000, 0))
	}
	tuner.room = func() int64 { return 0 } // this test's heap is not the subject
	if got := debug.SetGCPercent(100); got != -1 {
		t.Errorf("GOGC %d below the limit, want off: the limit paces the collector", got)
	}
	tuneGC(func(k string) (string, bool) { return "50", k == "GOGC" }, 1000)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set, serve changed it to %d", got)
	}
	inflight := 2000
	tuner.inflight = func() int { return inflight }
	tuner.adjust()
	if got := debug.SetMemoryLimit(-1); got != memoryLimit(1000, 2000) {
		t.Errorf("limit with 2,000 in flight %d, want %d", got, memoryLimit(1000, 2000))
	}
	inflight = 0
	for range int(tuneHold/tuneEvery) - 1 {
		tuner.adjust()
	}
	if got := debug.SetMemoryLimit(-1); got != memoryLimit(1000, 2000) {
		t.Errorf("the limit fell within %s of the burst: %d", tuneHold, got)
	}
	tuner.adjust()
	if got := debug.SetMemoryLimit(-1); got != memoryLimit(1000, 0) {
		t.Errorf("limit %s after the burst: %d, want %d", tuneHold, got, memoryLimit(1000, 0))
	}
}

// The limit leaves room for twice the live heap and the runtime's other
// memory, whatever the work in flight: with 100,000 watches and few checks
// in flight, a limit that followed the checks alone held the process at
// it, and the collector ran without pause.
func TestMemoryLimitLeavesRoomOverTheLiveHeap(t *testing.T) {
	before, percent := debug.SetMemoryLimit(-1), debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetMemoryLimit(before); debug.SetGCPercent(percent) })
	live := make([][]byte, 64)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	runtime.GC()
	if room := newRoomReader().room(); room < 2*64<<20 {
		t.Fatalf("room %d MiB with 64 MiB live, want at least twice that", room>>20)
	}
	tuneGC(func(string) (string, bool) { return "", false }, 1000)
	if got := debug.SetMemoryLimit(-1); got < 2*64<<20 || got <= memoryLimit(1000, 0) {
		t.Errorf("limit %d MiB with 64 MiB live and nothing in flight, want room for twice the live heap", got>>20)
	}
	runtime.KeepAlive(live)
}

// The NATS URL, which may carry a password, can come from a file like a
// secret, for serve and the client commands alike.
func TestNATSURLFromAFile(t *testing.T) {
	urlFile := filepath.Join(t.TempDir(), "nats-url")
	must(t, os.WriteFile(urlFile, []byte("nats://paybridge:pw-SECRET@nats.example:4222\n"), 0o600))
	env := map[string]string{"PAYBRIDGE_NATS_URL_FILE": urlFile}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, _, err := parseServe([]string{"--coinbar-api-key", "cb-id"}, lookup)
	must(t, err)
	if cfg.nats.url != "nats://paybridge:pw-SECRET@nats.example:4222" {
		t.Fatalf("serve's NATS URL %q", cfg.nats.url)
	}
	r, _, err := parseCheck([]string{"coinbar", "order-1"}, lookup, io.Discard)
	must(t, err)
	if r.nats.url != cfg.nats.url {
		t.Fatalf("check's NATS URL %q", r.nats.url)
	}
	must(t, os.WriteFile(urlFile, []byte("nats://paybridge:12/pw-SECRET@nats.example:4222\n"), 0o600))
	if _, _, err := parseServe([]string{"--coinbar-api-key", "cb-id"}, lookup); err == nil || err.Error() != "PAYBRIDGE_NATS_URL_FILE: "+strayAtError {
		t.Fatalf("a password not percent-encoded in the file: %v", err)
	}
	env["PAYBRIDGE_NATS_URL"] = "nats://other:4222"
	if _, _, err := parseServe([]string{"--coinbar-api-key", "cb-id"}, lookup); err == nil || !strings.Contains(err.Error(), "both set") {
		t.Fatalf("both the variable and its file: %v", err)
	}
}

// TestEveryProviderSecretIsRedacted: each provider's secret credentials,
// set by flag or by variable, are among what serve blanks in every log
// line and message, from its descriptor: a provider added to
// providers/all cannot leave one shown.
func TestEveryProviderSecretIsRedacted(t *testing.T) {
	for _, d := range all.List {
		for _, cred := range d.Credentials {
			if !cred.Secret {
				continue
			}
			for _, byVariable := range []bool{false, true} {
				value := "SECRET-" + d.Flag(cred.Name)
				env := map[string]string{}
				// The provider enabled, and serve refused for the first
				// flag it checks: the secrets are kept before any value is.
				args := []string{"serve", "--nats-url", "ftp://x"}
				if d.DefaultBaseURL == "" {
					args = append(args, "--"+d.Flag("base-url"), "https://provider.example")
				}
				for _, c := range d.Credentials {
					if c.Required && c.Name != cred.Name {
						args = append(args, "--"+d.Flag(c.Name), "required-"+c.Name)
					}
				}
				if byVariable {
					env[envName(d.Flag(cred.Name))] = value
				} else {
					args = append(args, "--"+d.Flag(cred.Name), value)
				}
				m := NewMain()
				m.LookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
				err := m.Run(context.Background(), args, io.Discard, io.Discard)
				if !cli.IsUsage(err) || !strings.Contains(err.Error(), "--nats-url") {
					t.Fatalf("%v: %v, want --nats-url refused", args, err)
				}
				if got := m.secrets.redact("key " + value + " refused"); got != "key [redacted] refused" {
					t.Errorf("--%s (by variable %v) is not blanked: %q", d.Flag(cred.Name), byVariable, got)
				}
				must(t, m.Close())
			}
		}
	}
}

// A disabled provider's base URL is not checked, so that one without a
// public host needs no made-up default; an enabled one's is, and must
// not be empty.
func TestOnlyEnabledProvidersBaseURLsAreChecked(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	if _, _, err := parseServe([]string{"--coinbar-api-key", "k", "--muvinai-base-url", ""}, none); err != nil {
		t.Errorf("a disabled provider without a base URL: %v", err)
	}
	_, _, err := parseServe([]string{"--muvinai-api-key", "k", "--muvinai-base-url", ""}, none)
	if want := "--muvinai-base-url is empty: muvinai needs the base URL of its API"; err == nil || err.Error() != want {
		t.Errorf("an enabled provider without a base URL: %v, want %s", err, want)
	}
}

// --accounts-dir must be a directory; a provider with a subdirectory there
// is enabled without its default key (and its base URL is checked), one
// without is not.
func TestAccountsDirEnablesItsProviders(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	root := t.TempDir()
	file := filepath.Join(root, "file")
	must(t, os.WriteFile(file, nil, 0o600))
	for arg, want := range map[string]string{
		filepath.Join(root, "missing"): "no such file or directory",
		file:                           "not a directory",
	} {
		if _, _, err := parseServe([]string{"--accounts-dir", arg}, none); err == nil || !strings.HasPrefix(err.Error(), "--accounts-dir ") || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("--accounts-dir %s: %v, want %q", arg, err, want)
		}
	}
	if _, _, err := parseServe([]string{"--accounts-dir", root}, none); err == nil || !strings.Contains(err.Error(), "no provider enabled") {
		t.Errorf("an accounts directory without a provider's subdirectory: %v", err)
	}
	must(t, os.Mkdir(filepath.Join(root, "coinbar"), 0o700))
	cfg, _, err := parseServe([]string{"--accounts-dir", root}, none)
	if err != nil || !cfg.provider("coinbar").enabled() || cfg.provider("coinbar").hasDefault() || cfg.provider("muvinai").enabled() {
		t.Errorf("coinbar by its subdirectory: %v, coinbar %+v", err, cfg.provider("coinbar"))
	}
	if _, _, err := parseServe([]string{"--accounts-dir", root, "--coinbar-base-url", "ftp://x"}, none); err == nil || !strings.Contains(err.Error(), "--coinbar-base-url") {
		t.Errorf("a provider enabled by its accounts keeps its base URL checked: %v", err)
	}
}
