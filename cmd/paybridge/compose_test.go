package main

import (
	"maps"
	"net"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	natsserver "github.com/nats-io/nats-server/v2/server"

	paysim "github.com/paybridge/paybridge/cmd/paysim/sim"
)

// loadCompose loads compose.yaml as Docker Compose does: validated against
// the Compose specification's schema (an unknown key fails), anchors and
// merge keys resolved, variables interpolated from env only (never this
// process's environment), and only the services of the given profiles
// and those without one enabled.
func loadCompose(t *testing.T, env map[string]string, profiles ...string) *types.Project {
	t.Helper()
	var vars []string
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{"../../compose.yaml"},
		cli.WithWorkingDirectory("../.."), cli.WithEnv(vars), cli.WithProfiles(profiles))
	must(t, err)
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("compose.yaml with profiles %q: %v", profiles, err)
	}
	return p
}

// servedBy is serve's configuration in a compose service, parsed by serve's
// own parser from the service's command and environment.
func servedBy(t *testing.T, name string, svc types.ServiceConfig) serveConfig {
	t.Helper()
	if len(svc.Command) == 0 || svc.Command[0] != "serve" {
		t.Fatalf("%s: command %q does not run serve", name, svc.Command)
	}
	cfg, _, err := parseServe(svc.Command[1:], composeEnv(svc))
	if err != nil {
		t.Fatalf("%s: serve refuses the compose command line: %v", name, err)
	}
	checkServeVariables(t, name, slices.Collect(maps.Keys(svc.Environment)))
	return cfg
}

// composeEnv looks variables up in a service's environment.
func composeEnv(svc types.ServiceConfig) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := svc.Environment[k]
		if !ok || v == nil {
			return "", false
		}
		return *v, true
	}
}

// runsServe reports whether the service runs `paybridge serve`.
func runsServe(svc types.ServiceConfig) bool {
	return len(svc.Entrypoint) == 0 && len(svc.Command) > 0 && svc.Command[0] == "serve"
}

// TestCompose: without a profile, compose.yaml runs NATS with JetStream on a
// volume, paysim and one bridge; the paybridge and paysim command lines are
// accepted by the binaries' own flag parsers and agree on addresses and
// credentials, and only the webhook port is published beyond the host's
// loopback.
func TestCompose(t *testing.T) {
	p := loadCompose(t, nil)
	if got := slices.Sorted(maps.Keys(p.Services)); !slices.Equal(got, []string{"nats", "paybridge", "paysim"}) {
		t.Fatalf("services without a profile: %q", got)
	}
	nats, sim, pb := p.Services["nats"], p.Services["paysim"], p.Services["paybridge"]
	checkNATSImage(t, "nats", nats)
	if !slices.Contains(nats.Command, "-js") || flagValue(nats.Command, "-sd") != "/data" {
		t.Errorf("nats command %q does not enable JetStream with its store in /data", nats.Command)
	}
	if !onNamedVolume(p, nats, "/data") {
		t.Errorf("nats /data is not on a named volume: %+v", nats.Volumes)
	}

	cfg := servedBy(t, "paybridge", pb)
	if u, err := url.Parse(cfg.nats.url); err != nil || u.Host != "nats:4222" || !hasDependency(pb, "nats") {
		t.Errorf("paybridge reaches NATS at %q (depends on %v), want the nats service", redactURL(cfg.nats.url), pb.DependsOn)
	}
	checkServePorts(t, "paybridge", pb, cfg)
	checkOnlyWebhooksFaceTheNetwork(t, p)

	// paysim: its flag parser lives in package main, so the built binary
	// parses the command with --help appended: every flag before it is
	// read, and nothing starts.
	if !slices.Equal(sim.Entrypoint, types.ShellCommand{"/paysim"}) {
		t.Errorf("paysim entrypoint %q", sim.Entrypoint)
	}
	proc := start(t, "paysim", testEnv(), append(slices.Clone([]string(sim.Command)), "--help")...)
	if code := proc.wait(10 * time.Second); code != 0 {
		t.Errorf("paysim refuses the compose command line (exit %d):\n%s", code, proc.stderr)
	}
	checkPaysimAgrees(t, "paybridge", cfg, sim)

	// No tracing unless the tracing profile's variable names a collector.
	if got := *pb.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"]; got != "" {
		t.Errorf("paybridge exports spans to %q without the tracing profile", got)
	}
}

// TestComposeTracingProfile: the tracing profile adds Jaeger, taking OTLP
// over HTTP with its UI on the host's loopback, and the variable the
// compose file names points paybridge's exporter at it.
func TestComposeTracingProfile(t *testing.T) {
	p := loadCompose(t, map[string]string{"PAYBRIDGE_OTLP_ENDPOINT": "http://jaeger:4318"}, "tracing")
	jaeger, ok := p.Services["jaeger"]
	if !ok {
		t.Fatalf("the tracing profile has no jaeger service: %q", slices.Sorted(maps.Keys(p.Services)))
	}
	if v := jaeger.Environment["COLLECTOR_OTLP_ENABLED"]; v == nil || *v != "true" {
		t.Errorf("jaeger does not take OTLP: %v", jaeger.Environment)
	}
	if _, ok := publishedPort(jaeger, 16686); !ok {
		t.Errorf("jaeger's UI is not published: %+v", jaeger.Ports)
	}
	pb := p.Services["paybridge"]
	servedBy(t, "paybridge", pb)
	if got := *pb.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"]; got != "http://jaeger:4318" {
		t.Errorf("paybridge's OTLP endpoint is %q with the tracing profile", got)
	}
	checkOnlyWebhooksFaceTheNetwork(t, p)
}

// TestComposeClusterProfile: the cluster profile runs three JetStream
// servers from deploy/nats/cluster.conf, which nats-server itself parses
// into one cluster whose routes name the three services, with the
// least-privilege users; and two bridges with --replicas 3 that reach all
// three servers as user paybridge, with the password the servers expect.
// Its ports do not clash with the single-node stack, which runs beside it.
func TestComposeClusterProfile(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"made-up passwords", nil},
		{"passwords from the environment", map[string]string{
			"PAYBRIDGE_NATS_PASSWORD": "bridge-pw-SECRET", "PAYBRIDGE_CLIENT_PASSWORD": "client-pw-SECRET"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := loadCompose(t, tc.env, "cluster")
			servers := map[string]*natsserver.Options{}
			var bridges []string
			for _, name := range slices.Sorted(maps.Keys(p.Services)) {
				svc := p.Services[name]
				if !slices.Contains(svc.Profiles, "cluster") {
					continue
				}
				switch {
				case strings.HasPrefix(svc.Image, "nats:"):
					servers[name] = clusterServer(t, p, name, svc)
				case runsServe(svc):
					bridges = append(bridges, name)
				}
			}
			if len(servers) != 3 || len(bridges) < 2 {
				t.Fatalf("the cluster profile runs NATS servers %q and bridges %q, want 3 and at least 2", slices.Sorted(maps.Keys(servers)), bridges)
			}

			// One cluster: distinct server names, one cluster name, and each
			// server's routes name exactly the three services.
			names, clusters := map[string]bool{}, map[string]bool{}
			var bridgePassword string
			for name, opts := range servers {
				names[opts.ServerName], clusters[opts.Cluster.Name] = true, true
				var routes []string
				for _, r := range opts.Routes {
					if r.Port() != strconv.Itoa(opts.Cluster.Port) {
						t.Errorf("%s: route %s is not to the cluster port %d", name, r, opts.Cluster.Port)
					}
					routes = append(routes, r.Hostname())
				}
				if slices.Sort(routes); !slices.Equal(routes, slices.Sorted(maps.Keys(servers))) {
					t.Errorf("%s: routes to %q, want the three servers", name, routes)
				}
				pw := userPassword(t, opts, "paybridge")
				if bridgePassword != "" && pw != bridgePassword {
					t.Errorf("%s: the servers disagree on the paybridge user's password", name)
				}
				bridgePassword = pw
			}
			if len(names) != 3 || len(clusters) != 1 {
				t.Errorf("server names %v and cluster names %v: want 3 distinct names in 1 cluster", names, clusters)
			}
			if want := tc.env["PAYBRIDGE_NATS_PASSWORD"]; want != "" && bridgePassword != want {
				t.Errorf("the servers do not take the paybridge password from the environment")
			}

			for _, name := range bridges {
				svc := p.Services[name]
				cfg := servedBy(t, name, svc)
				if cfg.bridge.Replicas != 3 {
					t.Errorf("%s: --replicas %d, want 3 on a three-node cluster", name, cfg.bridge.Replicas)
				}
				var reached []string
				for _, raw := range strings.Split(cfg.nats.url, ",") {
					u, err := url.Parse(strings.TrimSpace(raw))
					if err != nil {
						t.Fatalf("%s: a NATS URL does not parse", name)
					}
					pw, _ := u.User.Password()
					if u.User.Username() != "paybridge" || pw != bridgePassword {
						t.Errorf("%s: connects to %s as %q, not as the servers' paybridge user", name, u.Host, u.User.Username())
					}
					host, port, _ := net.SplitHostPort(u.Host)
					if opts, ok := servers[host]; !ok || port != strconv.Itoa(opts.Port) {
						t.Errorf("%s: NATS URL to %s is not a cluster server's client port", name, u.Host)
					}
					if !hasDependency(svc, host) {
						t.Errorf("%s: does not depend on %s", name, host)
					}
					reached = append(reached, host)
				}
				if slices.Sort(reached); !slices.Equal(reached, slices.Sorted(maps.Keys(servers))) {
					t.Errorf("%s: NATS URLs reach %q, want all three servers", name, reached)
				}
				checkServePorts(t, name, svc, cfg)
				checkPaysimAgrees(t, name, cfg, p.Services["paysim"])
			}
			checkOnlyWebhooksFaceTheNetwork(t, p)
			checkNoPortClash(t, p)
		})
	}
}

// clusterServer parses the configuration a cluster NATS service runs with
// nats-server's own parser, reading the file through the service's bind
// mount and the variables from its environment.
func clusterServer(t *testing.T, p *types.Project, name string, svc types.ServiceConfig) *natsserver.Options {
	t.Helper()
	checkNATSImage(t, name, svc)
	conf := flagValue(svc.Command, "-c")
	hostPath := ""
	for _, v := range svc.Volumes {
		if rel, err := filepath.Rel(v.Target, conf); v.Type == types.VolumeTypeBind && err == nil && !strings.HasPrefix(rel, "..") {
			hostPath = filepath.Join(v.Source, rel)
		}
	}
	if hostPath == "" {
		t.Fatalf("%s: its config %q is not on a bind mount: %+v", name, conf, svc.Volumes)
	}
	for k, v := range svc.Environment {
		if v != nil {
			t.Setenv(k, *v)
		}
	}
	opts, err := natsserver.ProcessConfigFile(hostPath)
	if err != nil {
		t.Fatalf("%s: nats-server refuses %s: %v", name, hostPath, err)
	}
	if opts.ServerName != name {
		t.Errorf("%s: server name %q, want the service's name", name, opts.ServerName)
	}
	if !opts.JetStream || !onNamedVolume(p, svc, opts.StoreDir) {
		t.Errorf("%s: JetStream %v with its store %q on no named volume", name, opts.JetStream, opts.StoreDir)
	}
	if opts.Cluster.Name == "" || opts.Cluster.Port == 0 {
		t.Errorf("%s: no cluster: %+v", name, opts.Cluster)
	}
	return opts
}

// userPassword is the password of a configured user, failing the test
// when the user is missing or unprotected.
func userPassword(t *testing.T, opts *natsserver.Options, user string) string {
	t.Helper()
	for _, u := range opts.Users {
		if u.Username == user && u.Password != "" {
			return u.Password
		}
	}
	t.Fatalf("server %s has no user %q with a password", opts.ServerName, user)
	return ""
}

func checkNATSImage(t *testing.T, name string, svc types.ServiceConfig) {
	t.Helper()
	// 2.11 brought the per-message TTLs of --status-retention, 2.12 the
	// message schedules watches wait as (bridge.ErrNoMsgSchedules).
	if minor, ok := strings.CutPrefix(svc.Image, "nats:2."); !ok || atoi(minor) < 12 {
		t.Errorf("%s: image %q, want nats:2.12 or later", name, svc.Image)
	}
}

// checkServePorts: the webhook listener is published on its own port, and
// the admin listener, if published, on the host's loopback only and from a
// container address beyond its own loopback.
func checkServePorts(t *testing.T, name string, svc types.ServiceConfig, cfg serveConfig) {
	t.Helper()
	_, httpPort, _ := net.SplitHostPort(cfg.httpListen)
	if p, ok := publishedPort(svc, atoi(httpPort)); !ok || p.Published == "" {
		t.Errorf("%s: the webhook listener %s is not published: %+v", name, cfg.httpListen, svc.Ports)
	}
	adminHost, adminPort, _ := net.SplitHostPort(cfg.adminListen)
	if p, ok := publishedPort(svc, atoi(adminPort)); ok && (allInterfaces(p) || net.ParseIP(adminHost).IsLoopback()) {
		t.Errorf("%s: the admin listener %s is published as %+v: want the host's loopback only, and the container listening beyond its own", name, cfg.adminListen, p)
	}
}

// checkOnlyWebhooksFaceTheNetwork: no port but a bridge's webhook listener
// is published on all of the host's interfaces; NATS, its monitoring,
// metrics and paysim are for the host only.
func checkOnlyWebhooksFaceTheNetwork(t *testing.T, p *types.Project) {
	t.Helper()
	for name, svc := range p.Services {
		webhooks := -1
		if runsServe(svc) {
			cfg := servedBy(t, name, svc)
			_, port, _ := net.SplitHostPort(cfg.httpListen)
			webhooks = atoi(port)
		}
		for _, port := range svc.Ports {
			if allInterfaces(port) && int(port.Target) != webhooks {
				t.Errorf("%s publishes port %d on all interfaces; bind it to 127.0.0.1", name, port.Target)
			}
		}
	}
}

// checkNoPortClash: no two services publish the same host port.
func checkNoPortClash(t *testing.T, p *types.Project) {
	t.Helper()
	owner := map[string]string{}
	for name, svc := range p.Services {
		for _, port := range svc.Ports {
			if prev, ok := owner[port.Published]; ok {
				t.Errorf("host port %s is published by both %s and %s", port.Published, prev, name)
			}
			owner[port.Published] = name
		}
	}
}

// checkPaysimAgrees: the bridge serves every provider, asking paysim on
// its port with the credentials paysim's fake accepts (given on its
// command line, or its made-up defaults).
func checkPaysimAgrees(t *testing.T, name string, cfg serveConfig, sim types.ServiceConfig) {
	t.Helper()
	_, simPort, _ := net.SplitHostPort(flagValue(sim.Command, "--listen"))
	defaults := paysim.MadeUpCredentials("paysim-")
	for _, p := range cfg.providers {
		if !p.enabled() {
			t.Errorf("%s: %s is not enabled", name, p.Name)
		}
		if u, err := url.Parse(p.baseURL); err != nil || u.Host != "paysim:"+simPort {
			t.Errorf("%s: the %s base URL %q is not paysim on port %s", name, p.Name, p.baseURL, simPort)
		}
		for _, cred := range p.Sim.Checks {
			want, given := flagValue(sim.Command, "--"+p.Flag(cred)), slices.ContainsFunc(sim.Command, func(a string) bool {
				return a == "--"+p.Flag(cred) || strings.HasPrefix(a, "--"+p.Flag(cred)+"=")
			})
			if !given {
				want = defaults[p.Name][cred]
			}
			if p.credentials[cred] != want {
				t.Errorf("%s: --%s is not the one paysim's %s fake accepts: %q", name, p.Flag(cred), p.Name, sim.Command)
			}
		}
	}
}

// publishedPort finds the entry publishing a container port.
func publishedPort(svc types.ServiceConfig, target int) (types.ServicePortConfig, bool) {
	for _, p := range svc.Ports {
		if int(p.Target) == target {
			return p, true
		}
	}
	return types.ServicePortConfig{}, false
}

// allInterfaces reports whether the port is published on every interface
// of the host, as Docker does without a host IP.
func allInterfaces(p types.ServicePortConfig) bool {
	ip := net.ParseIP(p.HostIP)
	return p.HostIP == "" || ip == nil || ip.IsUnspecified()
}

// onNamedVolume reports whether dir in the service's container is on a
// volume the project declares.
func onNamedVolume(p *types.Project, svc types.ServiceConfig, dir string) bool {
	for _, v := range svc.Volumes {
		if _, declared := p.Volumes[v.Source]; v.Type == types.VolumeTypeVolume && declared && path.Clean(v.Target) == path.Clean(dir) {
			return true
		}
	}
	return false
}

func hasDependency(svc types.ServiceConfig, name string) bool {
	_, ok := svc.DependsOn[name]
	return ok
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

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
