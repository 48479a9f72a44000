package providertest

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/fake"
)

var (
	providerName   = regexp.MustCompile(`^[a-z][a-z0-9]*$`)
	credentialName = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
)

// CheckDescriptor checks what the binary, the simulator, the demo and
// paybench take from a provider's descriptor, against its own client and
// fake over real HTTP: names that make sound flags and variables, a
// client built from the credentials (and refused without a required
// one), a fake that accepts exactly what that client sends at the status
// path it names, scripted steps that mean what they say, and sample
// payments that start pending, settle, and are all in the mapping table.
// The test of providers/all runs it for every provider listed.
func CheckDescriptor(t *testing.T, d providers.Descriptor) {
	t.Helper()
	if !t.Run("Names", func(t *testing.T) { checkNames(t, d) }) {
		return // the rest would fail for the same reasons, less clearly
	}
	creds := MadeUpCredentials(d, "")
	t.Run("Client", func(t *testing.T) { checkClient(t, d, creds) })
	t.Run("Fake", func(t *testing.T) { checkFake(t, d, creds) })
	t.Run("Sample", func(t *testing.T) { checkSample(t, d, creds) })
	t.Run("Curl", func(t *testing.T) { checkCurl(t, d) })
}

// MadeUpCredentials sets every credential the provider's fake checks to a
// made-up value: prefix, the provider's name and the credential's.
func MadeUpCredentials(d providers.Descriptor, prefix string) providers.Credentials {
	creds := providers.Credentials{}
	for _, name := range d.Sim.Checks {
		creds[name] = prefix + d.Name + "-" + name
	}
	return creds
}

func checkNames(t *testing.T, d providers.Descriptor) {
	if !providerName.MatchString(d.Name) {
		t.Errorf("name %q: want lower-case letters and digits, as flags, variables and NATS subjects take it", d.Name)
	}
	if d.Title == "" {
		t.Error("no Title")
	}
	if n, per, ok := strings.Cut(d.RateExample, "/"); !ok || atoi(n) < 1 || parseDuration(per) <= 0 {
		t.Errorf("RateExample %q: want calls/duration, such as 1000/24h", d.RateExample)
	}
	if d.DefaultBaseURL != "" {
		if _, err := providers.ParseBaseURL(d.DefaultBaseURL); err != nil {
			t.Errorf("DefaultBaseURL: %v", err)
		}
	}
	required := false
	seen := map[string]bool{}
	for _, c := range d.Credentials {
		switch {
		case !credentialName.MatchString(c.Name):
			t.Errorf("credential %q: want lower-case words joined by -, such as api-key", c.Name)
		case c.Name == "base-url" || c.Name == "rate":
			t.Errorf("credential %q: every provider has a --<name>-%s flag already", c.Name, c.Name)
		case seen[c.Name]:
			t.Errorf("credential %q is listed twice", c.Name)
		case c.Usage == "":
			t.Errorf("credential %q has no Usage", c.Name)
		}
		seen[c.Name], required = true, required || c.Required
	}
	if !required {
		t.Error("no required credential: nothing would say when the provider is enabled")
	}
	s := d.Sim
	for _, name := range s.Checks {
		if !seen[name] {
			t.Errorf("Sim.Checks names %q, which is not a credential", name)
		}
	}
	for _, c := range d.Credentials {
		if c.Required && !slices.Contains(s.Checks, c.Name) {
			t.Errorf("required credential %q is not in Sim.Checks: the simulator could not be given it", c.Name)
		}
	}
	switch {
	case d.New == nil || s.NewFake == nil || s.StatusPath == nil || s.Sample == nil || s.Curl == nil:
		t.Error("needs New, and Sim's NewFake, StatusPath, Sample and Curl")
	case !strings.HasPrefix(s.PathPrefix, "/") || !strings.HasSuffix(s.PathPrefix, "/"):
		t.Errorf("Sim.PathPrefix %q: want a path that begins and ends with /", s.PathPrefix)
	case !strings.HasPrefix(s.StatusPath("p-1"), s.PathPrefix):
		t.Errorf("Sim.StatusPath(%q) = %q is not under Sim.PathPrefix %q", "p-1", s.StatusPath("p-1"), s.PathPrefix)
	case s.Pending.Status == "" || s.Paid.Status == "":
		t.Error("needs Sim.Pending and Sim.Paid")
	}
	p := s.Payment
	p.ID, p.Steps = "p-1", []fake.Step{s.Pending}
	if err := p.Validate(); err != nil {
		t.Errorf("Sim.Payment: %v", err)
	}
}

// checkClient: New builds a client of the provider's name, and refuses to
// without a required credential, as Enabled says.
func checkClient(t *testing.T, d providers.Descriptor, creds providers.Credentials) {
	base := d.DefaultBaseURL
	if base == "" {
		base = "https://provider.example"
	}
	c, err := d.New(base, creds)
	if err != nil {
		t.Fatalf("New with every credential: %v", err)
	}
	if c.Name() != d.Name {
		t.Errorf("the client's Name() is %q, want %q", c.Name(), d.Name)
	}
	if !d.Enabled(creds) {
		t.Error("not Enabled with every credential set")
	}
	for _, cred := range d.Credentials {
		if !cred.Required {
			continue
		}
		without := copyWith(creds, cred.Name, "")
		if d.Enabled(without) {
			t.Errorf("Enabled without %s", cred.Name)
		}
		if _, err := d.New(base, without); err == nil {
			t.Errorf("New without the required %s succeeded", cred.Name)
		}
	}
}

// checkFake: the fake answers the client at Sim.StatusPath with the steps
// as they are meant, and turns away a client with any credential it
// checks changed.
func checkFake(t *testing.T, d providers.Descriptor, creds providers.Credentials) {
	fx := startDescribed(t, d, creds)
	steps := []struct {
		name string
		step fake.Step
		want paybridge.Status
	}{{"Pending", d.Sim.Pending, paybridge.StatusPending}, {"Paid", d.Sim.Paid, paybridge.StatusPaid}}
	if d.Sim.Underpaid.Status != "" {
		steps = append(steps, struct {
			name string
			step fake.Step
			want paybridge.Status
		}{"Underpaid", d.Sim.Underpaid, paybridge.StatusUnderpaid})
	}
	for _, s := range steps {
		id := "step " + s.name + "/ü"
		fx.add(t, id, s.step)
		got, err := fx.client.Check(context.Background(), id)
		if err != nil {
			t.Fatalf("Sim.%s: %v", s.name, err)
		}
		if got.Status != s.want {
			t.Errorf("Sim.%s %+v means %s, want %s", s.name, s.step, got.Status, s.want)
		}
		reqs := fx.engine.Requests()
		if uri := reqs[len(reqs)-1].RequestURI; uri != d.Sim.StatusPath(id) {
			t.Errorf("the client asked %q, Sim.StatusPath says %q", uri, d.Sim.StatusPath(id))
		}
	}
	for _, name := range d.Sim.Checks {
		wrong, err := d.New(fx.url, copyWith(creds, name, "wrong-"+name), providers.WithRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		_, err = wrong.Check(context.Background(), "step Pending/ü")
		if code := paybridge.ErrorCode(err); code != paybridge.CodeProviderAuthFailed {
			t.Errorf("a client with another %s: %v, want provider_auth_failed: the fake does not check it", name, err)
		}
	}
}

// checkSample: sample payments are valid and repeatable; each starts
// pending for at least 5 s and ends in a terminal status, every step is in
// the mapping table (asked of the fake through the client), and most are
// paid with a spread of other endings.
func checkSample(t *testing.T, d providers.Descriptor, creds providers.Credentials) {
	draw := func(seed uint64) []fake.Payment {
		rng := rand.New(rand.NewPCG(seed, seed))
		var out []fake.Payment
		for i := range 40 {
			out = append(out, d.Sim.Sample(rng, fmt.Sprintf("sample-%04d", i+1)))
		}
		return out
	}
	payments := draw(7)
	if !reflect.DeepEqual(payments, draw(7)) {
		t.Fatal("Sample drew different payments from the same seed")
	}
	fx := startDescribed(t, d, creds)
	status := func(p fake.Payment, i int) paybridge.Status {
		t.Helper()
		step := p.Steps[i]
		step.For, step.Calls = 0, 0
		q := p
		q.ID, q.Steps = fmt.Sprintf("%s-step-%d", p.ID, i), []fake.Step{step}
		if err := fx.engine.Add(q); err != nil {
			t.Fatal(err)
		}
		r, err := fx.client.Check(context.Background(), q.ID)
		if err != nil {
			t.Fatalf("%s step %d %+v: %v", p.ID, i+1, step, err)
		}
		if r.Status == paybridge.StatusUnknown {
			t.Errorf("%s step %d %+v is not in the mapping table", p.ID, i+1, step)
		}
		return r.Status
	}
	endings := map[paybridge.Status]int{}
	for _, p := range payments {
		if err := p.Validate(); err != nil {
			t.Fatalf("%s: %v", p.ID, err)
		}
		var pendingFor time.Duration
		for i := 0; i < len(p.Steps) && status(p, i) == paybridge.StatusPending; i++ {
			pendingFor += p.Steps[i].For
		}
		if pendingFor < 5*time.Second {
			t.Errorf("%s is pending for %s, want at least 5s: a watch would hardly see it pending", p.ID, pendingFor)
		}
		for i := range p.Steps {
			s := status(p, i)
			if i == len(p.Steps)-1 {
				if !s.Terminal() {
					t.Errorf("%s ends %s, want a terminal status", p.ID, s)
				}
				endings[s]++
			} else if p.Steps[i].For == 0 && p.Steps[i].Calls == 0 {
				t.Errorf("%s step %d holds for ever, before the last", p.ID, i+1)
			}
		}
	}
	if endings[paybridge.StatusPaid] == 0 || len(endings) < 3 {
		t.Errorf("endings %v: want mostly paid and a spread of others", endings)
	}
}

// checkCurl: the banner's lines ask the status URL with each credential
// from the variable named for it.
func checkCurl(t *testing.T, d providers.Descriptor) {
	const statusURL = "http://127.0.0.1:8090/status-url"
	vars := map[string]string{}
	for i, name := range d.Sim.Checks {
		vars[name] = "VAR" + strconv.Itoa(i)
	}
	text := strings.Join(d.Sim.Curl(statusURL, vars), "\n")
	if !strings.Contains(text, statusURL) {
		t.Errorf("Curl does not ask %s:\n%s", statusURL, text)
	}
	for name, v := range vars {
		if !strings.Contains(text, "$"+v) {
			t.Errorf("Curl does not send %s from $%s:\n%s", name, v, text)
		}
	}
}

// described is a provider's fake served over real HTTP and a client of it.
type described struct {
	engine *fake.Engine
	client paybridge.Provider
	url    string
	d      providers.Descriptor
}

func startDescribed(t *testing.T, d providers.Descriptor, creds providers.Credentials) *described {
	t.Helper()
	e, err := d.Sim.NewFake(creds)
	if err != nil {
		t.Fatalf("Sim.NewFake: %v", err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	c, err := d.New(srv.URL, creds, providers.WithBackoff(time.Millisecond, 5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return &described{engine: e, client: c, url: srv.URL, d: d}
}

// add adds a payment with the descriptor's fixed fields and one step.
func (x *described) add(t *testing.T, id string, step fake.Step) {
	t.Helper()
	p := x.d.Sim.Payment
	p.ID, p.Steps = id, []fake.Step{step}
	if err := x.engine.Add(p); err != nil {
		t.Fatal(err)
	}
}

func copyWith(creds providers.Credentials, name, value string) providers.Credentials {
	out := maps.Clone(creds)
	out[name] = value
	return out
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

func parseDuration(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		return -1
	}
	return d
}
