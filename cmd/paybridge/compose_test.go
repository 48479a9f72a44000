package main

import (
	"bytes"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// composeFile is the part of the Compose format compose.yaml uses; decoding
// refuses any other key, so a typo cannot pass unnoticed.
type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       string            `yaml:"build"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   []string          `yaml:"depends_on"`
	Restart     string            `yaml:"restart"`
	Profiles    []string          `yaml:"profiles"`
}

// TestCompose: compose.yaml parses, NATS runs with JetStream on a volume,
// the paybridge and paysim command lines are accepted by the binaries' own
// flag parsers and agree on addresses and credentials, and only the
// webhook port is published beyond the host's loopback.
func TestCompose(t *testing.T) {
	raw, err := os.ReadFile("../../compose.yaml")
	must(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var c composeFile
	must(t, dec.Decode(&c))

	nats, sim, pb := c.Services["nats"], c.Services["paysim"], c.Services["paybridge"]
	if minor, ok := strings.CutPrefix(nats.Image, "nats:2."); !ok || atoi(minor) < 11 {
		t.Errorf("nats image %q, want nats:2.11 or later", nats.Image)
	}
	if !slices.Contains(nats.Command, "-js") || flagValue(nats.Command, "-sd") != "/data" {
		t.Errorf("nats command %q does not enable JetStream with its store in /data", nats.Command)
	}
	if !slices.Contains(nats.Volumes, "nats-data:/data") || !hasKey(c.Volumes, "nats-data") {
		t.Errorf("nats /data is not on the nats-data volume: %q", nats.Volumes)
	}

	// paybridge: serve's own parser accepts the command and environment.
	if len(pb.Command) == 0 || pb.Command[0] != "serve" {
		t.Fatalf("paybridge command %q does not run serve", pb.Command)
	}
	cfg, _, err := parseServe(pb.Command[1:], func(k string) (string, bool) { v, ok := pb.Environment[k]; return v, ok })
	if err != nil {
		t.Fatalf("serve refuses the compose command line: %v", err)
	}
	if u, err := url.Parse(cfg.nats.url); err != nil || u.Host != "nats:4222" || !slices.Contains(pb.DependsOn, "nats") {
		t.Errorf("paybridge reaches NATS at %q (depends on %q), want the nats service", cfg.nats.url, pb.DependsOn)
	}
	_, httpPort, _ := net.SplitHostPort(cfg.httpListen)
	if p, ok := published(pb.Ports, httpPort); !ok || p.hostPort != httpPort {
		t.Errorf("paybridge's webhook listener %s is not published on port %s: %q", cfg.httpListen, httpPort, pb.Ports)
	}
	adminHost, adminPort, _ := net.SplitHostPort(cfg.adminListen)
	if p, ok := published(pb.Ports, adminPort); ok && (p.allInterfaces() || net.ParseIP(adminHost).IsLoopback()) {
		t.Errorf("paybridge's admin listener %s is published as %q: want the host's loopback only, and the container listening beyond its own", cfg.adminListen, pb.Ports)
	}
	// Only the webhook listener may face the network: NATS here has no
	// authentication, and metrics, monitoring and paysim are for the host.
	for name, svc := range c.Services {
		for _, spec := range svc.Ports {
			if p := parsePort(spec); p.allInterfaces() && !(name == "paybridge" && p.containerPort == httpPort) {
				t.Errorf("service %s publishes %q on all interfaces; bind it to 127.0.0.1", name, spec)
			}
		}
	}

	// paysim: its flag parser lives in package main, so the built binary
	// parses the command with --help appended: every flag before it is
	// read, and nothing starts.
	if !slices.Equal(sim.Entrypoint, []string{"/paysim"}) {
		t.Errorf("paysim entrypoint %q", sim.Entrypoint)
	}
	p := start(t, "paysim", testEnv(), append(slices.Clone(sim.Command), "--help")...)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Errorf("paysim refuses the compose command line (exit %d):\n%s", code, p.stderr)
	}
	_, simPort, _ := net.SplitHostPort(flagValue(sim.Command, "--listen"))
	for name, base := range map[string]string{"coinbar": cfg.coinbar.baseURL, "muvinai": cfg.muvinai.baseURL} {
		if u, err := url.Parse(base); err != nil || u.Host != "paysim:"+simPort {
			t.Errorf("paybridge's %s base URL %q is not paysim on port %s", name, base, simPort)
		}
	}
	if cfg.coinbar.apiKey != flagValue(sim.Command, "--coinbar-client-id") || cfg.muvinai.apiKey != flagValue(sim.Command, "--muvinai-api-key") {
		t.Errorf("paybridge's provider keys do not match paysim's: %q", sim.Command)
	}

	// The tracing profile: Jaeger takes OTLP over HTTP, and paybridge's
	// endpoint is left empty (no export) unless the profile's variable
	// names Jaeger.
	jaeger := c.Services["jaeger"]
	if !slices.Equal(jaeger.Profiles, []string{"tracing"}) || jaeger.Environment["COLLECTOR_OTLP_ENABLED"] != "true" {
		t.Errorf("jaeger is not an optional OTLP receiver: profiles %q, environment %v", jaeger.Profiles, jaeger.Environment)
	}
	if got := pb.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"]; got != "${PAYBRIDGE_OTLP_ENDPOINT:-}" {
		t.Errorf("paybridge's OTLP endpoint is %q, want one the tracing profile sets", got)
	}
}

// publishedPort is one entry of a service's ports in the short syntax
// [[HOST_IP:]HOST_PORT:]CONTAINER_PORT[/PROTOCOL].
type publishedPort struct{ hostIP, hostPort, containerPort string }

func parsePort(spec string) publishedPort {
	spec, _, _ = strings.Cut(spec, "/")
	host, container, mapped := cutLast(spec, ":")
	if !mapped {
		return publishedPort{containerPort: spec}
	}
	ip, port, withIP := cutLast(host, ":")
	if !withIP {
		return publishedPort{hostPort: host, containerPort: container}
	}
	return publishedPort{hostIP: strings.Trim(ip, "[]"), hostPort: port, containerPort: container}
}

// allInterfaces reports whether the port is published on every interface
// of the host, as Docker does without a host IP.
func (p publishedPort) allInterfaces() bool {
	ip := net.ParseIP(p.hostIP)
	return p.hostIP == "" || ip == nil || ip.IsUnspecified()
}

// published finds the entry publishing the container port.
func published(specs []string, containerPort string) (publishedPort, bool) {
	for _, spec := range specs {
		if p := parsePort(spec); p.containerPort == containerPort {
			return p, true
		}
	}
	return publishedPort{}, false
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

func TestParsePort(t *testing.T) {
	for spec, want := range map[string]publishedPort{
		"4222":                {containerPort: "4222"},
		"4222:4222":           {hostPort: "4222", containerPort: "4222"},
		"127.0.0.1:9090:9090": {hostIP: "127.0.0.1", hostPort: "9090", containerPort: "9090"},
		"[::1]:4222:4222/tcp": {hostIP: "::1", hostPort: "4222", containerPort: "4222"},
		"0.0.0.0:80:8080":     {hostIP: "0.0.0.0", hostPort: "80", containerPort: "8080"},
	} {
		got := parsePort(spec)
		if got != want {
			t.Errorf("parsePort(%q) = %+v, want %+v", spec, got, want)
		}
		if all := got.allInterfaces(); all != (want.hostIP == "" || want.hostIP == "0.0.0.0") {
			t.Errorf("%q: allInterfaces %v", spec, all)
		}
	}
}

// flagValue is the value of a flag in "--name=value" or "--name value" form.
func flagValue(args []string, name string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func hasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
