package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/paybridge/paybridge/providers/all"
)

const k8sDir = "../../deploy/kubernetes"

// Measured by paybench --self --scale (README "Performance", "Scale") with
// the default --cache-size: the RSS of an idle bridge and its peak under
// 1,000 checks/s over 100,000 payments. A view entry was ~190 bytes then
// (~140 since the view holds no pointers); the scaling keeps the larger.
const (
	measuredIdleRSS   = 22.4 * (1 << 20)
	measuredPeakRSS   = 79.8 * (1 << 20)
	measuredCacheSize = 100_000
	cacheEntryBytes   = 190
)

// CoinbarPay's documented budget (docs/providers.md): 1000 calls a day.
const coinbarDailyLimit = 1000

// kustomization is the part of kustomize's format deploy/kubernetes uses;
// decoding refuses any other field.
type kustomization struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Namespace  string           `json:"namespace"`
	Resources  []string         `json:"resources"`
	Images     []kustomizeImage `json:"images"`
}

type kustomizeImage struct {
	Name    string `json:"name"`
	NewName string `json:"newName"`
	NewTag  string `json:"newTag"`
}

// manifests are the Kubernetes objects of deploy/kubernetes, each decoded
// strictly into its API type: an unknown or misspelt field fails.
type manifests struct {
	kustomization kustomization
	namespaces    []corev1.Namespace
	deployments   []appsv1.Deployment
	services      []corev1.Service
	pdbs          []policyv1.PodDisruptionBudget
	policies      []networkingv1.NetworkPolicy
	secrets       []corev1.Secret // the example, which kustomize does not apply
}

func loadManifests(t *testing.T) manifests {
	t.Helper()
	var m manifests
	decodeStrict(t, filepath.Join(k8sDir, "kustomization.yaml"), readFile(t, filepath.Join(k8sDir, "kustomization.yaml")), &m.kustomization)
	if m.kustomization.APIVersion != "kustomize.config.k8s.io/v1beta1" || m.kustomization.Kind != "Kustomization" {
		t.Fatalf("kustomization.yaml: %s %s", m.kustomization.APIVersion, m.kustomization.Kind)
	}
	// Every manifest in the directory is applied, but the example Secret
	// and the chart's values.
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	must(t, err)
	for _, f := range files {
		name := filepath.Base(f)
		switch {
		case name == "kustomization.yaml", name == "nats-values.yaml":
			continue
		case strings.HasSuffix(name, ".example.yaml"):
			if slices.Contains(m.kustomization.Resources, name) {
				t.Errorf("kustomization.yaml applies %s: its placeholders would overwrite the real values", name)
			}
		case !slices.Contains(m.kustomization.Resources, name):
			t.Errorf("%s is not in kustomization.yaml's resources", name)
		}
		m.decodeFile(t, f)
	}
	for _, r := range m.kustomization.Resources {
		if !slices.Contains(files, filepath.Join(k8sDir, r)) {
			t.Errorf("kustomization.yaml lists %s, which is not in deploy/kubernetes", r)
		}
	}
	return m
}

// decodeFile decodes each YAML document of a file by its kind.
func (m *manifests) decodeFile(t *testing.T, file string) {
	t.Helper()
	for i, doc := range bytes.Split(readFile(t, file), []byte("\n---")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		where := fmt.Sprintf("%s (document %d)", filepath.Base(file), i+1)
		var tm metav1.TypeMeta
		must(t, yaml.Unmarshal(doc, &tm))
		switch tm.APIVersion + " " + tm.Kind {
		case "v1 Namespace":
			m.namespaces = append(m.namespaces, decodeAs[corev1.Namespace](t, where, doc))
		case "apps/v1 Deployment":
			m.deployments = append(m.deployments, decodeAs[appsv1.Deployment](t, where, doc))
		case "v1 Service":
			m.services = append(m.services, decodeAs[corev1.Service](t, where, doc))
		case "policy/v1 PodDisruptionBudget":
			m.pdbs = append(m.pdbs, decodeAs[policyv1.PodDisruptionBudget](t, where, doc))
		case "networking.k8s.io/v1 NetworkPolicy":
			m.policies = append(m.policies, decodeAs[networkingv1.NetworkPolicy](t, where, doc))
		case "v1 Secret":
			m.secrets = append(m.secrets, decodeAs[corev1.Secret](t, where, doc))
		default:
			t.Fatalf("%s: no test knows kind %q of %q", where, tm.Kind, tm.APIVersion)
		}
	}
}

func decodeAs[T any](t *testing.T, where string, doc []byte) T {
	t.Helper()
	var v T
	decodeStrict(t, where, doc, &v)
	return v
}

// decodeStrict decodes YAML as the API server would decode its JSON, but
// refusing unknown and duplicate fields.
func decodeStrict(t *testing.T, where string, doc []byte, v any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(doc, v); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
}

func ptrValue[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	must(t, err)
	return b
}

// TestKubernetesManifests: the manifests decode strictly; the container's
// args and environment pass serve's own parser, with the secret files it
// names mounted from the Secret; the probes ask /readyz and /healthz on a
// port serve listens on; the Service exposes the webhook port and no
// Service the admin port, which the NetworkPolicy opens to the monitoring
// namespace only; the PDB covers the pods; the resources fit the measured
// memory.
func TestKubernetesManifests(t *testing.T) {
	m := loadManifests(t)
	if len(m.deployments) != 1 || len(m.secrets) != 1 {
		t.Fatalf("%d deployments and %d example secrets, want one each", len(m.deployments), len(m.secrets))
	}
	d, secret := m.deployments[0], m.secrets[0]
	if len(m.namespaces) != 1 || m.namespaces[0].Name != m.kustomization.Namespace || secret.Namespace != m.kustomization.Namespace {
		t.Errorf("namespace: kustomization %q, Namespace %v, example Secret %q", m.kustomization.Namespace, m.namespaces, secret.Namespace)
	}

	// The example Secret is committed: placeholders only.
	for k, v := range secret.StringData {
		if !strings.Contains(v, "PLACEHOLDER") {
			t.Errorf("secret.example.yaml: %s is not an obvious placeholder", k)
		}
	}
	if len(secret.Data) > 0 {
		t.Errorf("secret.example.yaml: data %v, want placeholders in stringData only", slices.Collect(maps.Keys(secret.Data)))
	}

	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Fatalf("deployment replicas %v, want 2 or more", ptrValue(d.Spec.Replicas))
	}
	replicas := int(*d.Spec.Replicas)
	pods := labels.Set(d.Spec.Template.Labels)
	if !selects(t, d.Spec.Selector, pods) {
		t.Fatalf("the deployment's selector does not select its own pods")
	}
	spec := d.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	c := spec.Containers[0]
	if !slices.ContainsFunc(m.kustomization.Images, func(i kustomizeImage) bool { return i.Name == c.Image }) {
		t.Errorf("image %q is not one kustomization.yaml sets", c.Image)
	}

	cfg := containerServe(t, spec, c, secret)
	u, err := url.Parse(cfg.nats.url)
	if err != nil || u.User.Username() != "paybridge" {
		t.Errorf("serve connects to NATS as %q, want the least-privilege user paybridge", u.User.Username())
	}
	if cfg.bridge.Replicas != 3 {
		t.Errorf("--replicas %d, want 3: the chart's cluster has three JetStream servers", cfg.bridge.Replicas)
	}
	if r := cfg.bridge.Limits["coinbar"]; r.N > 0 && float64(r.N)*float64(replicas)/r.Per.Hours() > coinbarDailyLimit/24.0 {
		t.Errorf("--coinbar-rate %d/%s per instance times %d replicas is over CoinbarPay's %d a day", r.N, r.Per, replicas, coinbarDailyLimit)
	}

	// Ports: what serve listens on, by the container's port names.
	httpPort, adminPort := listenPort(t, "--http-listen", cfg.httpListen), listenPort(t, "--admin-listen", cfg.adminListen)
	portOf := func(p intstr.IntOrString) int {
		if p.Type == intstr.Int {
			return p.IntValue()
		}
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				return int(cp.ContainerPort)
			}
		}
		t.Errorf("no container port is named %q", p.StrVal)
		return -1
	}
	for _, cp := range c.Ports {
		if got := int(cp.ContainerPort); got != httpPort && got != adminPort {
			t.Errorf("container port %s %d: serve listens on %d and %d only", cp.Name, got, httpPort, adminPort)
		}
	}
	for _, probe := range []struct {
		name, path string
		p          *corev1.Probe
	}{{"readiness", "/readyz", c.ReadinessProbe}, {"liveness", "/healthz", c.LivenessProbe}} {
		if probe.p == nil || probe.p.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", probe.name)
			continue
		}
		// On the admin port: a flood of webhook traffic must not fail a probe.
		if port := portOf(probe.p.HTTPGet.Port); probe.p.HTTPGet.Path != probe.path || port != adminPort {
			t.Errorf("%s probe GET %s on port %d: want %s on the admin port %d", probe.name, probe.p.HTTPGet.Path, port, probe.path, adminPort)
		}
	}
	if got := d.Spec.Template.Annotations["prometheus.io/port"]; got != "" && atoi(got) != adminPort {
		t.Errorf("prometheus.io/port %s, but /metrics is on %d", got, adminPort)
	}

	// serve drains within drainTimeout after the preStop pause.
	if spec.TerminationGracePeriodSeconds == nil {
		t.Fatal("no terminationGracePeriodSeconds: the default 30 s is serve's whole drain time")
	}
	grace := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	pause := time.Duration(0)
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		pause = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	if grace <= drainTimeout+pause {
		t.Errorf("terminationGracePeriodSeconds %s: serve may drain for %s after a %s pause", grace, drainTimeout, pause)
	}

	// Two providers, each with its reserve of slots.
	checkResources(t, c.Resources, cfg.bridge.CacheSize, cfg.bridge.MaxInflight+2*max(1, cfg.bridge.MaxInflight/16))
	checkGOMAXPROCS(t, c)

	// Services: the webhook port, never the admin port.
	webhooks := false
	for _, svc := range m.services {
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(pods) || len(svc.Spec.Selector) == 0 {
			continue
		}
		if svc.Spec.Type != "" && svc.Spec.Type != corev1.ServiceTypeClusterIP {
			t.Errorf("service %s is %s: expose the webhooks through your ingress", svc.Name, svc.Spec.Type)
		}
		for _, sp := range svc.Spec.Ports {
			target := sp.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(sp.Port)
			}
			switch portOf(target) {
			case httpPort:
				webhooks = true
			case adminPort:
				t.Errorf("service %s exposes the admin port (metrics, profiles)", svc.Name)
			default:
				t.Errorf("service %s port %s reaches no port serve listens on", svc.Name, sp.Name)
			}
		}
	}
	if !webhooks {
		t.Errorf("no Service exposes the webhook port %d", httpPort)
	}

	// The PDB covers the pods and leaves room to drain one.
	if len(m.pdbs) != 1 || !selects(t, m.pdbs[0].Spec.Selector, pods) {
		t.Errorf("want one PodDisruptionBudget selecting the deployment's pods: %d", len(m.pdbs))
	} else if pdb := m.pdbs[0].Spec; pdb.MinAvailable == nil || pdb.MinAvailable.Type != intstr.Int || pdb.MinAvailable.IntValue() < 1 || pdb.MinAvailable.IntValue() >= replicas {
		t.Errorf("PDB minAvailable %v: want at least 1 and fewer than the %d replicas, so that a node can drain", pdb.MinAvailable, replicas)
	}

	checkNetworkPolicy(t, m.policies, pods, portOf, httpPort, adminPort)
}

// TestKubernetesManifestsCarryEveryProvider: every PAYBRIDGE_ variable the
// deployment sets is one of serve's, and the example Secret holds the NATS
// URL and every provider's secret credentials (<provider>-<credential>),
// each mounted where the deployment's PAYBRIDGE_<PROVIDER>_<CREDENTIAL>_FILE
// points: a provider added to providers/all without them fails here.
func TestKubernetesManifestsCarryEveryProvider(t *testing.T) {
	m := loadManifests(t)
	if len(m.deployments) != 1 || len(m.secrets) != 1 {
		t.Fatalf("%d deployments and %d example secrets, want one each", len(m.deployments), len(m.secrets))
	}
	spec, secret := m.deployments[0].Spec.Template.Spec, m.secrets[0]
	c := spec.Containers[0]
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	checkServeVariables(t, "deployment.yaml", slices.Collect(maps.Keys(env)))
	want := []string{"nats-url"}
	for _, d := range all.List {
		for _, cred := range d.Credentials {
			if !cred.Secret {
				continue
			}
			key := d.Flag(cred.Name)
			want = append(want, key)
			file, ok := env[envName(key)+"_FILE"]
			if got, mounted := secretKeyAt(spec, c, secret.Name, file); !ok || !mounted || got != key {
				t.Errorf("deployment.yaml: %s_FILE does not name the Secret's key %s where it is mounted", envName(key), key)
			}
		}
	}
	if got := slices.Sorted(maps.Keys(secret.StringData)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("secret.example.yaml holds %q, want the NATS URL and every provider's secret credentials %q", got, slices.Sorted(slices.Values(want)))
	}
}

// checkServeVariables: each name that begins with PAYBRIDGE_ is a variable
// serve reads (a misspelt or removed one would be ignored).
func checkServeVariables(t *testing.T, where string, names []string) {
	t.Helper()
	f := commandFlags(t, "serve")
	known := map[string]bool{}
	f.VisitAll(func(fl *flag.Flag) {
		known[envName(fl.Name)] = true
		if slices.Contains(f.fromFile, fl.Name) {
			known[envName(fl.Name)+"_FILE"] = true
		}
	})
	for _, name := range names {
		if strings.HasPrefix(name, envPrefix) && !known[name] {
			t.Errorf("%s sets %s, which serve does not read", where, name)
		}
	}
}

// containerServe runs the container's args and environment through serve's
// parser. Each _FILE variable must name a key of the example Secret in a
// volume mounted from it; the test writes the Secret's placeholder values
// to a directory and points the variable there.
func containerServe(t *testing.T, spec corev1.PodSpec, c corev1.Container, secret corev1.Secret) serveConfig {
	t.Helper()
	if len(c.Command) != 0 || len(c.Args) == 0 || c.Args[0] != "serve" {
		t.Fatalf("the container runs %q %q, want the image's /paybridge with serve", c.Command, c.Args)
	}
	secretDir := t.TempDir()
	for k, v := range secret.StringData {
		must(t, os.WriteFile(filepath.Join(secretDir, k), []byte(v+"\n"), 0o600))
	}
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := secret.StringData[ref.Key]
			if ref.Name != secret.Name || !ok {
				t.Errorf("%s: from key %q of Secret %q, which the example Secret does not have", e.Name, ref.Key, ref.Name)
			}
			env[e.Name] = v
		case e.ValueFrom != nil:
			t.Errorf("%s: only secrets are read from elsewhere", e.Name)
		case strings.HasSuffix(e.Name, "_FILE"):
			key, ok := secretKeyAt(spec, c, secret.Name, e.Value)
			if _, exists := secret.StringData[key]; !ok || !exists {
				t.Errorf("%s=%s is not a key of Secret %s mounted from a secret volume", e.Name, e.Value, secret.Name)
				env[e.Name] = e.Value
				continue
			}
			env[e.Name] = filepath.Join(secretDir, key)
		default:
			env[e.Name] = e.Value
		}
	}
	cfg, _, err := parseServe(c.Args[1:], func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("serve refuses the container's args and environment: %v", err)
	}
	return cfg
}

// secretKeyAt is the key of Secret name that file is in the container, by
// its volume mounts.
func secretKeyAt(spec corev1.PodSpec, c corev1.Container, name, file string) (string, bool) {
	for _, mount := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(path.Clean(file), path.Clean(mount.MountPath)+"/")
		if !ok || mount.SubPath != "" {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != mount.Name || v.Secret == nil || v.Secret.SecretName != name {
				continue
			}
			if len(v.Secret.Items) == 0 {
				return rel, !strings.Contains(rel, "/")
			}
			for _, item := range v.Secret.Items {
				if item.Path == rel {
					return item.Key, true
				}
			}
		}
	}
	return "", false
}

// checkResources: requests and limits are set; the memory request covers
// an idle bridge, and the limit is above both the measured peak (scaled
// to the configured --cache-size) and the soft limit serve sets for it.
func checkResources(t *testing.T, r corev1.ResourceRequirements, cacheSize, maxInflight int) {
	t.Helper()
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, lim := r.Requests[name], r.Limits[name]
		if req.IsZero() || lim.IsZero() || req.Cmp(lim) > 0 {
			t.Errorf("%s: request %s, limit %s: want both, the request not above the limit", name, &req, &lim)
		}
	}
	peak := measuredPeakRSS + float64(cacheEntryBytes*(cacheSize-measuredCacheSize))
	memReq, memLim := r.Requests[corev1.ResourceMemory], r.Limits[corev1.ResourceMemory]
	if float64(memReq.Value()) < measuredIdleRSS {
		t.Errorf("memory request %s is below the measured idle RSS (%.1f MiB)", &memReq, measuredIdleRSS/(1<<20))
	}
	if float64(memLim.Value()) <= peak || memLim.Value() <= memoryLimit(cacheSize, maxInflight) {
		t.Errorf("memory limit %s: want it above the measured peak (%.1f MiB at --cache-size %d) and serve's soft limit with every slot in flight (%s)",
			&memLim, peak/(1<<20), cacheSize, resource.NewQuantity(memoryLimit(cacheSize, maxInflight), resource.BinarySI))
	}
}

// checkGOMAXPROCS: a container limited to one core or less runs one P. Go
// sizes GOMAXPROCS to the CPU limit but to no fewer than 2, and the second
// P costs CPU a check (README "Sizing") without adding any under the limit.
func checkGOMAXPROCS(t *testing.T, c corev1.Container) {
	t.Helper()
	if lim := c.Resources.Limits[corev1.ResourceCPU]; lim.IsZero() || lim.MilliValue() > 1000 {
		return
	}
	for _, e := range c.Env {
		if e.Name == "GOMAXPROCS" && e.Value == "1" {
			return
		}
	}
	t.Errorf("the CPU limit is one core or less, and GOMAXPROCS is not set to 1")
}

// checkNetworkPolicy: a policy isolates the pods for ingress, admits the
// webhook port, and the admin port from the monitoring namespace only; no
// rule admits every port.
func checkNetworkPolicy(t *testing.T, policies []networkingv1.NetworkPolicy, pods labels.Set, portOf func(intstr.IntOrString) int, httpPort, adminPort int) {
	t.Helper()
	webhooks, admin := false, false
	for _, np := range policies {
		if !selects(t, &np.Spec.PodSelector, pods) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			continue
		}
		for i, rule := range np.Spec.Ingress {
			if len(rule.Ports) == 0 {
				t.Errorf("networkpolicy %s rule %d admits every port", np.Name, i)
			}
			for _, p := range rule.Ports {
				if p.Port == nil {
					t.Errorf("networkpolicy %s rule %d admits every port", np.Name, i)
					continue
				}
				switch portOf(*p.Port) {
				case httpPort:
					webhooks = true
				case adminPort:
					admin = true
					if !onlyFromMonitoring(rule.From) {
						t.Errorf("networkpolicy %s admits the admin port from %+v, want the monitoring namespace only", np.Name, rule.From)
					}
				}
			}
		}
	}
	if !webhooks || !admin {
		t.Errorf("no NetworkPolicy isolating the pods admits the webhook port (%v) and the admin port from monitoring (%v)", webhooks, admin)
	}
}

func onlyFromMonitoring(peers []networkingv1.NetworkPolicyPeer) bool {
	if len(peers) == 0 {
		return false // from everywhere
	}
	for _, p := range peers {
		ns := p.NamespaceSelector
		if p.IPBlock != nil || p.PodSelector != nil || ns == nil || len(ns.MatchExpressions) > 0 ||
			!reflect.DeepEqual(ns.MatchLabels, map[string]string{"kubernetes.io/metadata.name": "monitoring"}) {
			return false
		}
	}
	return true
}

// selects reports whether a label selector matches the labels.
func selects(t *testing.T, sel *metav1.LabelSelector, set labels.Set) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("selector %v: %v", sel, err)
	}
	return !s.Empty() && s.Matches(set)
}

// listenPort is the port of a listen address that is reachable from
// outside the container.
func listenPort(t *testing.T, flag, addr string) int {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s %q: %v", flag, addr, err)
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		t.Errorf("%s %s: the pod's own loopback, which neither probes nor Services reach", flag, addr)
	}
	return atoi(port)
}

// natsChartValues is the part of the NATS Helm chart's values that
// nats-values.yaml sets; decoding refuses any other field.
type natsChartValues struct {
	Config struct {
		Cluster struct {
			Enabled  bool `json:"enabled"`
			Replicas int  `json:"replicas"`
		} `json:"cluster"`
		JetStream struct {
			Enabled   bool `json:"enabled"`
			FileStore struct {
				Enabled bool   `json:"enabled"`
				Dir     string `json:"dir"`
				PVC     struct {
					Enabled bool              `json:"enabled"`
					Size    resource.Quantity `json:"size"`
				} `json:"pvc"`
			} `json:"fileStore"`
		} `json:"jetstream"`
		// Merged into the server's configuration as is: nats-server parses it below.
		Merge map[string]any `json:"merge"`
	} `json:"config"`
	Container struct {
		Env map[string]struct {
			Value     string               `json:"value"`
			ValueFrom *corev1.EnvVarSource `json:"valueFrom"`
		} `json:"env"`
	} `json:"container"`
	NatsBox struct {
		Enabled bool `json:"enabled"`
	} `json:"natsBox"`
}

// chartVariable is how the chart writes an unquoted value, such as a
// variable, into its JSON configuration: "<< $NAME >>" becomes $NAME.
var chartVariable = regexp.MustCompile(`"<<\s*(.+?)\s*>>"`)

// TestNATSHelmValues: the chart's values ask for three JetStream servers
// on file storage, and the users they merge into the configuration, once
// rendered as the chart renders them and parsed by nats-server, grant
// exactly what deploy/nats/users.conf grants; their passwords come from
// variables that the chart's container reads from a Secret.
func TestNATSHelmValues(t *testing.T) {
	var v natsChartValues
	decodeStrict(t, "nats-values.yaml", readFile(t, filepath.Join(k8sDir, "nats-values.yaml")), &v)
	if !v.Config.Cluster.Enabled || v.Config.Cluster.Replicas != 3 {
		t.Errorf("cluster %+v, want three servers (serve runs with --replicas 3)", v.Config.Cluster)
	}
	js := v.Config.JetStream
	if !js.Enabled || !js.FileStore.Enabled || !js.FileStore.PVC.Enabled || js.FileStore.PVC.Size.IsZero() {
		t.Errorf("jetstream %+v, want file storage on a volume claim", js)
	}

	// As the chart's toRawJson: without escaping <, > and &.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	must(t, enc.Encode(v.Config.Merge))
	rendered := buf.Bytes()
	for _, match := range chartVariable.FindAllSubmatch(rendered, -1) {
		name := strings.TrimPrefix(string(match[1]), "$")
		env, ok := v.Container.Env[name]
		if !ok || env.Value != "" || env.ValueFrom == nil || env.ValueFrom.SecretKeyRef == nil {
			t.Errorf("the configuration reads $%s, which the container does not take from a Secret", name)
		}
	}
	conf := filepath.Join(t.TempDir(), "nats.conf")
	must(t, os.WriteFile(conf, chartVariable.ReplaceAll(rendered, []byte("$1")), 0o600))
	setNATSPasswords(t)
	chart, err := natsserver.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("nats-server refuses the users of nats-values.yaml: %v\n%s", err, rendered)
	}
	repo, err := natsserver.ProcessConfigFile("../../deploy/nats/nats-server.conf")
	must(t, err)
	if len(chart.Users) != len(repo.Users) {
		t.Fatalf("nats-values.yaml has %d users, deploy/nats %d", len(chart.Users), len(repo.Users))
	}
	for _, want := range repo.Users {
		i := slices.IndexFunc(chart.Users, func(u *natsserver.User) bool { return u.Username == want.Username })
		if i < 0 {
			t.Errorf("nats-values.yaml has no user %s", want.Username)
			continue
		}
		got := chart.Users[i]
		if got.Password != want.Password {
			t.Errorf("user %s: the password is not read from the same variable as in deploy/nats", want.Username)
		}
		if !reflect.DeepEqual(got.Permissions, want.Permissions) {
			g, _ := json.Marshal(got.Permissions)
			w, _ := json.Marshal(want.Permissions)
			t.Errorf("user %s: nats-values.yaml grants\n%s\ndeploy/nats/users.conf grants\n%s", want.Username, g, w)
		}
	}
}
