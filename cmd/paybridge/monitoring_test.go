package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers/fake"
)

// grafanaDashboard is the part of Grafana's dashboard model that
// deploy/grafana/paybridge.json uses; decoding refuses any other field.
type grafanaDashboard struct {
	Title         string            `json:"title"`
	UID           string            `json:"uid"`
	Description   string            `json:"description"`
	Tags          []string          `json:"tags"`
	Editable      bool              `json:"editable"`
	SchemaVersion int               `json:"schemaVersion"`
	Version       int               `json:"version"`
	Refresh       string            `json:"refresh"`
	Time          map[string]string `json:"time"`
	Templating    struct {
		List []struct {
			Name       string             `json:"name"`
			Label      string             `json:"label"`
			Type       string             `json:"type"`
			Query      json.RawMessage    `json:"query"` // a string, or an object for a query variable
			Datasource *grafanaDatasource `json:"datasource"`
			Definition string             `json:"definition"`
			Multi      bool               `json:"multi"`
			IncludeAll bool               `json:"includeAll"`
			AllValue   string             `json:"allValue"`
			Hide       int                `json:"hide"`
			Refresh    int                `json:"refresh"`
			Sort       int                `json:"sort"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []json.RawMessage `json:"list"`
	} `json:"annotations"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaPanel struct {
	ID          int                      `json:"id"`
	Type        string                   `json:"type"`
	Title       string                   `json:"title"`
	Description string                   `json:"description"`
	Collapsed   bool                     `json:"collapsed"`
	Datasource  *grafanaDatasource       `json:"datasource"`
	GridPos     struct{ X, Y, W, H int } `json:"gridPos"`
	FieldConfig struct {
		Defaults  map[string]any    `json:"defaults"`
		Overrides []json.RawMessage `json:"overrides"`
	} `json:"fieldConfig"`
	Targets []struct {
		RefID        string             `json:"refId"`
		Datasource   *grafanaDatasource `json:"datasource"`
		Expr         string             `json:"expr"`
		LegendFormat string             `json:"legendFormat"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // of a collapsed row
}

// ruleFile is Prometheus's rule file format; decoding refuses any other field.
type ruleFile struct {
	Groups []struct {
		Name     string `json:"name"`
		Interval string `json:"interval"`
		Rules    []struct {
			Alert       string            `json:"alert"`
			Record      string            `json:"record"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// expression is one PromQL expression of the dashboard or the rules, and
// where it is.
type expression struct{ where, expr string }

// dashboardExpressions decodes the dashboard strictly, checks that it can be
// imported into any Grafana (its data source is a variable) and returns
// its queries.
func dashboardExpressions(t *testing.T) []expression {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(readFile(t, "../../deploy/grafana/paybridge.json")))
	dec.DisallowUnknownFields()
	var d grafanaDashboard
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("deploy/grafana/paybridge.json: %v", err)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" {
		t.Errorf("no data source variable: %v", vars)
	}
	var exprs []expression
	ids := map[int]bool{}
	var walk func([]grafanaPanel)
	walk = func(panels []grafanaPanel) {
		for _, p := range panels {
			if ids[p.ID] {
				t.Errorf("panel id %d is used twice", p.ID)
			}
			ids[p.ID] = true
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: data source %+v, want the variable ${datasource}", p.Title, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, q := range p.Targets {
				if q.Datasource != nil && q.Datasource.UID != "${datasource}" {
					t.Errorf("panel %q query %s: data source %+v", p.Title, q.RefID, q.Datasource)
				}
				exprs = append(exprs, expression{fmt.Sprintf("dashboard panel %q query %s", p.Title, q.RefID), q.Expr})
			}
		}
	}
	walk(d.Panels)
	return exprs
}

// ruleExpressions decodes the alert rules strictly and returns their
// expressions.
func ruleExpressions(t *testing.T) []expression {
	t.Helper()
	var rf ruleFile
	decodeStrict(t, "deploy/prometheus/paybridge-rules.yaml", readFile(t, "../../deploy/prometheus/paybridge-rules.yaml"), &rf)
	var exprs []expression
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %q of group %s: want an alert with a severity and a summary", r.Alert, g.Name)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("alert %s: for %q: %v", r.Alert, r.For, err)
				}
			}
			exprs = append(exprs, expression{"alert " + r.Alert, r.Expr})
		}
	}
	if len(exprs) == 0 {
		t.Fatal("no alert rules")
	}
	return exprs
}

// grafanaVariables are the dashboard's variables as Prometheus would see
// them once Grafana has filled them in.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*")

var metricName = regexp.MustCompile(`paybridge_[a-z0-9_]+`)

// metricNames parses each expression with Prometheus's own PromQL parser
// and returns the paybridge metrics they name. A series of any other
// metric (such as up) is refused: nothing here could show it exists.
func metricNames(t *testing.T, exprs []expression) []string {
	t.Helper()
	p := parser.NewParser(parser.Options{})
	var names []string
	for _, e := range exprs {
		ast, err := p.ParseExpr(grafanaVariables.Replace(e.expr))
		if err != nil {
			t.Errorf("%s: %v\n%s", e.where, err, e.expr)
			continue
		}
		parser.Inspect(ast, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok && !metricName.MatchString(vs.Name) {
				t.Errorf("%s: selects %q, not a paybridge metric", e.where, vs.String())
			}
			return nil
		})
		for _, name := range metricName.FindAllString(e.expr, -1) {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return names
}

// exposed is the set of series names a /metrics page offers, by its TYPE
// lines: a histogram offers its _bucket, _sum and _count.
func exposed(page string) map[string]bool {
	names := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(page))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "#" || f[1] != "TYPE" {
			continue
		}
		names[f[2]] = true
		if f[3] == "histogram" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[f[2]+s] = true
			}
		}
	}
	return names
}

// TestDashboardAndAlertsUseRealMetrics: the dashboard and the alert rules
// decode strictly and their expressions parse as PromQL, and every metric
// they name is on a running bridge's /metrics, so that renaming a metric
// breaks this test. Labelled series appear once counted, so the test
// drives what each counts: a watched check that settles, a refused
// webhook, and fire-and-forget checks past a hanging provider's share.
func TestDashboardAndAlertsUseRealMetrics(t *testing.T) {
	exprs := append(dashboardExpressions(t), ruleExpressions(t)...)
	names := metricNames(t, exprs)
	for _, want := range []string{"paybridge_ready", "paybridge_checks_total", "paybridge_provider_request_duration_seconds_bucket",
		"paybridge_cache_lookups_total", "paybridge_requests_total", "paybridge_requests_unread_total", "paybridge_reconciler_republished_total"} {
		if !slices.Contains(names, want) {
			t.Errorf("neither the dashboard nor the alerts use %s", want)
		}
	}

	n := startNATS(t)
	f := startFakes(t)
	must(t, f.coinbar.Add(fake.Payment{ID: "dash-1", Amount: "8.99", Currency: "EUR", Steps: []fake.Step{{Status: "PENDING"}}}))
	must(t, f.muvinai.Add(fake.Payment{ID: "dash-hang", Amount: "5", Currency: "USD", Steps: []fake.Step{{Status: "pending"}}}))
	// Two shared slots, a reserve and a queue of one for each provider.
	s := startServe(t, f.serveEnv(), "--nats-url", n.url, "--watch-schedule", "200ms", "--max-inflight", "2")

	// A watched check that settles: checks, provider calls, a status
	// change, cache lookups, the circuit gauge, watch lag, a watch ended.
	if out, errOut, code := run(t, testEnv(), "check", "--watch", "--nats-url", n.url, "coinbar", "dash-1"); code != 0 {
		t.Fatalf("check: exit %d\n%s\n%s", code, out, errOut)
	}
	must(t, f.coinbar.Set("dash-1", fake.Step{Status: "SUCCESS"}))
	// A webhook without credentials: refused, and counted.
	if code, _ := httpPost(t, s.httpURL+"/webhooks/coinbar", `{}`); code != http.StatusUnauthorized {
		t.Errorf("an unauthenticated webhook got %d", code)
	}
	// Muvinai hangs: fire-and-forget checks take the two shared slots and
	// its reserve of one, one waits in its queue, the rest are dropped.
	must(t, f.muvinai.Fault("dash-hang", fake.Fault{Times: 10, Delay: time.Minute}))
	nc, err := nats.Connect(n.url)
	must(t, err)
	defer nc.Close()
	for range 8 {
		must(t, nc.Publish("payments.check", []byte(`{"provider":"muvinai","payment_id":"dash-hang"}`)))
	}
	must(t, nc.Flush())

	var missing []string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("not on /metrics: %q\nserve:\n%s", missing, s.stderr)
		}
	})
	testkit.WaitFor(t, 20*time.Second, "every metric of the dashboard and the alerts on /metrics", func() bool {
		code, page := httpGet(t, s.adminURL+"/metrics")
		if code != http.StatusOK {
			return false
		}
		have := exposed(page)
		missing = slices.DeleteFunc(slices.Clone(names), func(name string) bool { return have[name] })
		return len(missing) == 0
	})
}

// readyGauge is the value of paybridge_ready on s's /metrics.
func readyGauge(t *testing.T, s *serveProc) string {
	_, page := httpGet(t, s.adminURL+"/metrics")
	gauge := ""
	scanLines(page, func(line string) {
		if v, ok := strings.CutPrefix(line, "paybridge_ready "); ok {
			gauge = v
		}
	})
	return gauge
}
