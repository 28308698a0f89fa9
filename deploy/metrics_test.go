package deploy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sessionrec/sessionrec/processor"
)

// metricKind is what a query may do with a series.
type metricKind int

const (
	gauge metricKind = iota
	// counter series only make sense under rate(), irate() or increase().
	counter
	// histogram is a histogram's _bucket, _sum or _count series: counters
	// too, and _bucket has the "le" label.
	histogram
)

func (k metricKind) String() string {
	return [...]string{"gauge", "counter", "histogram"}[k]
}

// series is a series name a query may use, with its labels (the target
// labels Prometheus adds, job and instance, included).
type series struct {
	kind   metricKind
	base   string // the registered metric's name (a histogram's without the suffix)
	labels []string
}

// recorder is a prometheus.Registerer that keeps the collectors registered
// through it, so their metric names, labels and kinds can be read: a vector
// with no child yet (no label values seen) exports nothing through Gather,
// but it describes itself.
type recorder struct {
	reg        *prometheus.Registry
	collectors []prometheus.Collector
}

var _ prometheus.Registerer = (*recorder)(nil)

func (r *recorder) Register(c prometheus.Collector) error {
	if err := r.reg.Register(c); err != nil {
		return err
	}
	r.collectors = append(r.collectors, c)
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err) // as prometheus.Registry.MustRegister does
		}
	}
}

func (r *recorder) Unregister(c prometheus.Collector) bool { return r.reg.Unregister(c) }

var descString = regexp.MustCompile(`^Desc\{fqName: "([^"]*)", help: .*, constLabels: \{([^}]*)\}, variableLabels: \{([^}]*)\}\}$`)

// registeredMetrics returns the series that processor.NewMetrics makes
// available, by series name, and the names of the metrics it registers.
//
// What this proves: the names, label names and kinds come from the
// collectors NewMetrics registers, as their descriptors state them (labels)
// and as their Go types (vectors) or a Gather (plain metrics, which export
// a zero value from the start) show their kind. It does not prove that
// the processor ever sets a series, nor which label values it uses.
func registeredMetrics(t *testing.T) (map[string]series, []string) {
	t.Helper()
	r := &recorder{reg: prometheus.NewRegistry()}
	processor.NewMetrics(r)
	families, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	gathered := map[string]dto.MetricType{}
	for _, f := range families {
		gathered[f.GetName()] = f.GetType()
	}
	out := map[string]series{}
	var names []string
	for _, c := range r.collectors {
		ch := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := descString.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read the descriptor %s", d)
			}
			name := m[1]
			labels := []string{"job", "instance"}
			for _, p := range strings.Split(m[2], ",") {
				if k, _, ok := strings.Cut(p, "="); ok {
					labels = append(labels, k)
				}
			}
			for _, l := range strings.Split(m[3], ",") {
				if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
					labels = append(labels, l)
				}
			}
			var kind metricKind
			switch c.(type) {
			case *prometheus.CounterVec:
				kind = counter
			case *prometheus.GaugeVec:
				kind = gauge
			case *prometheus.HistogramVec:
				kind = histogram
			default:
				switch typ, ok := gathered[name]; {
				case !ok:
					t.Fatalf("metric %s (%T) is neither a vector the test knows nor gathered", name, c)
				case typ == dto.MetricType_COUNTER:
					kind = counter
				case typ == dto.MetricType_GAUGE:
					kind = gauge
				case typ == dto.MetricType_HISTOGRAM:
					kind = histogram
				default:
					t.Fatalf("metric %s is a %s, which the dashboard checks do not know", name, typ)
				}
			}
			names = append(names, name)
			if kind == histogram {
				out[name+"_bucket"] = series{histogram, name, append(slices.Clone(labels), "le")}
				out[name+"_sum"] = series{histogram, name, labels}
				out[name+"_count"] = series{histogram, name, labels}
			} else {
				out[name] = series{kind, name, labels}
			}
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		t.Fatal("processor.NewMetrics registered nothing")
	}
	// up is the one series the dashboards may use that Prometheus makes.
	out["up"] = series{gauge, "up", []string{"job", "instance"}}
	return out, names
}

var (
	metricRef   = regexp.MustCompile(`\b(sessionrec_[A-Za-z0-9_:]+|up)\b`)
	matcherRef  = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	groupingRef = regexp.MustCompile(`\bby\s*\(([^)]*)\)`)
	legendRef   = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)
	rateBefore  = regexp.MustCompile(`\b(rate|irate|increase)\(\s*$`)
	aggregation = regexp.MustCompile(`\b(sum|min|max|avg|count|group|stddev|stdvar)\s*\(`)
)

// checkQuery checks a PromQL expression (and the legend that names its
// series) against the registered series, by regular expressions, not a
// PromQL parser (none is in this module's dependencies), so it checks what
// the dashboards' simple queries need:
//
//   - every sessionrec_* name (and up) is a series NewMetrics makes;
//   - label matchers {l="v"} after it use its labels, and job="v" names a
//     Prometheus scrape job;
//   - counters and histogram series appear only as rate(), irate() or
//     increase() of a range, gauges never;
//   - every label of a by (...) clause is a label of every series in the
//     expression, and histogram_quantile groups by le;
//   - every {{label}} of the legend is a grouping label (or, without by
//     and without aggregation, a label of every series).
//
// It returns the metrics (base names) the expression uses.
func checkQuery(expr, legend string, known map[string]series, jobs []string) ([]string, []error) {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	var used []string
	var refs []series
	for _, loc := range metricRef.FindAllStringSubmatchIndex(expr, -1) {
		name := expr[loc[2]:loc[3]]
		s, ok := known[name]
		if !ok {
			fail("%s is not a series processor.NewMetrics makes", name)
			continue
		}
		refs = append(refs, s)
		used = append(used, s.base)
		rest := expr[loc[3]:]
		if strings.HasPrefix(strings.TrimSpace(rest), "{") {
			sel, _, _ := strings.Cut(strings.TrimSpace(rest)[1:], "}")
			for _, m := range matcherRef.FindAllStringSubmatch(sel, -1) {
				if !slices.Contains(s.labels, m[1]) {
					fail("%s has no label %q (it has %q)", name, m[1], s.labels)
				}
				if m[1] == "job" && m[2] == "=" && !slices.Contains(jobs, m[3]) {
					fail("%s{job=%q}: Prometheus has no such job (jobs %q)", name, m[3], jobs)
				}
			}
			rest = strings.TrimSpace(rest)[len(sel)+2:]
		}
		inRate := rateBefore.MatchString(expr[:loc[2]])
		isRange := strings.HasPrefix(strings.TrimSpace(rest), "[")
		switch {
		case s.kind != gauge && (!inRate || !isRange):
			fail("%s is a %s: query it as rate(), irate() or increase() of a range", name, s.kind)
		case s.kind == gauge && inRate:
			fail("%s is a gauge: rate() and increase() are for counters", name)
		}
	}
	var grouping []string
	for _, m := range groupingRef.FindAllStringSubmatch(expr, -1) {
		var labels []string
		for _, l := range strings.Split(m[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				labels = append(labels, l)
			}
		}
		for _, l := range labels {
			for _, s := range refs {
				if !slices.Contains(s.labels, l) {
					fail("by (%s): %s has no label %q", m[1], s.base, l)
				}
			}
		}
		if strings.Contains(expr, "histogram_quantile") && !slices.Contains(labels, "le") {
			fail("by (%s) under histogram_quantile: keep le, or the buckets are summed away", m[1])
		}
		grouping = append(grouping, labels...)
	}
	for _, m := range legendRef.FindAllStringSubmatch(legend, -1) {
		l := m[1]
		if len(grouping) > 0 {
			if !slices.Contains(grouping, l) {
				fail("legend {{%s}}: the query keeps only %q", l, grouping)
			}
			continue
		}
		if aggregation.MatchString(expr) {
			fail("legend {{%s}}: the query aggregates every label away", l)
			continue
		}
		for _, s := range refs {
			if !slices.Contains(s.labels, l) {
				fail("legend {{%s}}: %s has no such label", l, s.base)
			}
		}
	}
	return used, errs
}

// TestCheckQuery shows that the query checks can fail.
func TestCheckQuery(t *testing.T) {
	known := map[string]series{
		"sessionrec_a_total":          {counter, "sessionrec_a_total", []string{"job", "instance", "topic"}},
		"sessionrec_g":                {gauge, "sessionrec_g", []string{"job", "instance", "partition"}},
		"sessionrec_h_seconds_bucket": {histogram, "sessionrec_h_seconds", []string{"job", "instance", "le"}},
		"up":                          {gauge, "up", []string{"job", "instance"}},
	}
	cases := []struct {
		name, expr, legend, want string
	}{
		{"ok counter", `sum by (topic) (rate(sessionrec_a_total[$__rate_interval]))`, "{{topic}}", ""},
		{"ok quantile", `histogram_quantile(0.99, sum by (le) (rate(sessionrec_h_seconds_bucket[5m])))`, "p99", ""},
		{"ok gauge", `time() - max by (partition) (sessionrec_g)`, "{{partition}}", ""},
		{"ok up", `sum(up{job="sessionrec"})`, "", ""},
		{"unknown metric", `sessionrec_nope`, "", "not a series"},
		{"histogram base name", `rate(sessionrec_h_seconds[5m])`, "", "not a series"},
		{"raw counter", `sessionrec_a_total`, "", "rate()"},
		{"rate of gauge", `rate(sessionrec_g[5m])`, "", "gauge"},
		{"unknown label", `sessionrec_g{topic="x"}`, "", `no label "topic"`},
		{"unknown job", `up{job="nope"}`, "", "no such job"},
		{"group by missing label", `sum by (reason) (rate(sessionrec_a_total[5m]))`, "", `no label "reason"`},
		{"quantile without le", `histogram_quantile(0.5, sum by (job) (rate(sessionrec_h_seconds_bucket[5m])))`, "", "keep le"},
		{"legend label aggregated away", `sum(sessionrec_g)`, "{{partition}}", "aggregates every label away"},
		{"legend label not kept", `sum by (topic) (rate(sessionrec_a_total[5m]))`, "{{instance}}", "keeps only"},
		{"legend label unknown", `sessionrec_g`, "{{topic}}", "no such label"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := checkQuery(tc.expr, tc.legend, known, []string{"sessionrec"})
			got := fmt.Sprint(errs)
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Errorf("got %v, want no error", errs)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Errorf("got %v, want an error containing %q", errs, tc.want)
			}
		})
	}
}
