package prometheus_test

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sockjsprom "github.com/sockline/sockline/metrics/prometheus"
	"github.com/sockline/sockline/sockjs"
)

// dashboardFile is the Grafana dashboard of the adapter's metrics.
const dashboardFile = "../grafana/sockjs.json"

// panel is what the test reads of a Grafana panel.
type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

// dashboard is what the test reads of a Grafana dashboard.
type dashboard struct {
	Inputs []struct {
		Name     string `json:"name"`
		PluginID string `json:"pluginId"`
	} `json:"__inputs"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string `json:"name"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

var (
	// promQLStrings are string literals, whose contents are no names.
	promQLStrings = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	// promQLGroups are label matchers, ranges and subqueries, and the
	// label lists of aggregations and vector matching.
	promQLGroups = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	// promQLNumbers are numbers and durations (0.95, 1e3, 0x1f, 5m).
	promQLNumbers = regexp.MustCompile(`\b\d[\w.]*`)
	// promQLIdent is an identifier, with what follows it.
	promQLIdent = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*\s*\(?`)
	// labelValues is a template variable's query of a label's values.
	labelValues = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,`)
)

// promQLKeywords are the words of PromQL that are not names even without a
// parenthesis after them.
var promQLKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"inf": true, "nan": true, "le": true,
}

// metricNames returns the metric names expr uses, in order: the
// identifiers left once strings, label matchers, ranges, label lists and
// numbers are taken out, other than functions (an identifier followed by "("),
// keywords and numbers.
func metricNames(expr string) []string {
	s := promQLStrings.ReplaceAllString(expr, " ")
	s = promQLGroups.ReplaceAllString(s, " ")
	s = promQLNumbers.ReplaceAllString(s, " ")
	var names []string
	for _, m := range promQLIdent.FindAllString(s, -1) {
		if strings.HasSuffix(m, "(") {
			continue // a function or aggregation
		}
		name := strings.TrimSpace(m)
		if promQLKeywords[strings.ToLower(name)] || slices.Contains(names, name) {
			continue
		}
		names = append(names, name)
	}
	return names
}

func TestMetricNames(t *testing.T) {
	for _, tt := range []struct {
		expr string
		want []string
	}{
		{`sockjs_sessions_open`, []string{"sockjs_sessions_open"}},
		{`sum by (transport) (sockjs_sessions_open{instance=~"$instance", handler=~"$handler"})`, []string{"sockjs_sessions_open"}},
		{`sum(rate(sockjs_sessions_opened_total{a="b"}[$__rate_interval]))`, []string{"sockjs_sessions_opened_total"}},
		{`histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))`, []string{"x_bucket"}},
		{`sum without (instance) (irate(a_total[1m])) / on (job) group_left (cause) increase(b_total [1h] offset 5m)`, []string{"a_total", "b_total"}},
		{`a_total{reason="by (x) rate("} > bool 0 or b unless c`, []string{"a_total", "b", "c"}},
		{`sum (rate (a_total[1m])) + 1e3 - 0x1f`, []string{"a_total"}},
	} {
		if got := metricNames(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("metricNames(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

// exportedNames gathers the names of the series the adapter exports,
// after a session has gone through a handler: each family's name, and a
// histogram's _bucket, _sum and _count.
func exportedNames(t *testing.T) (series map[string]string) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	url, h, m := serveEchoMetrics(t, reg, sockjs.Options{})
	reg.MustRegister(sockjsprom.NewClusterCollector(h, sockjsprom.Options{}))
	// A handler without a cluster carries nothing; TestCarriedRequestsCounted
	// checks that these come from carried requests.
	m.CarriedRequest("xhr_send", time.Millisecond, "ok")
	if code, body := post(t, url+"/0/s/xhr", ""); code != http.StatusOK || body != "o\n" {
		t.Fatalf("open: %d %q", code, body)
	}
	post(t, url+"/0/s/xhr_send", `["hi","bye"]`)
	post(t, url+"/0/s/xhr", "") // the echo and the close frame
	waitValue(t, reg, "sockjs_sessions_open", map[string]string{"transport": "xhr"}, 0)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series = make(map[string]string) // series name -> family
	for _, mf := range mfs {
		name := mf.GetName()
		series[name] = name
		if mf.GetType().String() == "HISTOGRAM" {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				series[name+suffix] = name
			}
		}
	}
	return series
}

// Every panel's queries name metrics the adapter exports, and every
// family it exports is on a panel.
func TestDashboardQueriesNameExportedMetrics(t *testing.T) {
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if len(d.Inputs) != 1 || d.Inputs[0].Name != "DS_PROMETHEUS" || d.Inputs[0].PluginID != "prometheus" {
		t.Errorf("__inputs = %+v, want one Prometheus input DS_PROMETHEUS", d.Inputs)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d predates datasource references by uid", d.SchemaVersion)
	}
	series := exportedNames(t)
	shown := make(map[string]bool) // families on a panel
	check := func(where, expr string) {
		t.Helper()
		names := metricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: query %q names no metric", where, expr)
		}
		for _, name := range names {
			family, ok := series[name]
			if !ok {
				t.Errorf("%s: query %q uses %s, which the adapter does not export", where, expr, name)
				continue
			}
			shown[family] = true
		}
	}

	var panels []panel
	for _, p := range d.Panels {
		panels = append(panels, p)
		panels = append(panels, p.Panels...)
	}
	ids := make(map[int]bool)
	for _, p := range panels {
		where := p.Title
		if ids[p.ID] {
			t.Errorf("%s: panel id %d used twice", where, p.ID)
		}
		ids[p.ID] = true
		switch p.Type {
		case "row", "text":
			if len(p.Targets) > 0 {
				t.Errorf("%s: a %s panel with queries", where, p.Type)
			}
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${DS_PROMETHEUS}" {
			t.Errorf("%s: datasource %+v, want the DS_PROMETHEUS input", where, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no query", where)
		}
		for _, tg := range p.Targets {
			check(where, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, v.Definition)
			continue
		}
		check("variable "+v.Name, m[1])
	}
	for _, family := range series {
		if !shown[family] {
			t.Errorf("no panel shows %s", family)
		}
	}
}
