package docs

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/garssl/garssld/metrics"
)

// recordingRegisterer keeps every collector metrics.New registers, so that
// the families are known from their descriptions, series or not.
type recordingRegisterer struct {
	prometheus.Registerer
	collectors []prometheus.Collector
}

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return r.Registerer.Register(c)
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// descFields reads a prometheus.Desc's name and variable labels from its
// String form, the only place client_golang shows them.
var descFields = regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)

// registeredFamilies returns the garssl_ families metrics.New registers,
// without the prefix, each with its variable labels.
func registeredFamilies(t *testing.T) map[string][]string {
	t.Helper()
	rec := &recordingRegisterer{Registerer: prometheus.NewRegistry()}
	if _, err := metrics.New(rec, metrics.Options{Version: "test"}); err != nil {
		t.Fatal(err)
	}
	families := make(map[string][]string)
	for _, c := range rec.collectors {
		ch := make(chan *prometheus.Desc, 64)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := descFields.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read name and labels from %s", d)
			}
			name, ok := strings.CutPrefix(m[1], "garssl_")
			if !ok {
				continue // the Go and process collectors
			}
			var labels []string
			if m[2] != "" {
				for _, l := range strings.Split(m[2], ",") {
					labels = append(labels, strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"))
				}
			}
			families[name] = labels
		}
	}
	return families
}

func TestReadmeMetricsTable(t *testing.T) {
	families := registeredFamilies(t)
	if len(families) < 20 || families["windows_total"] == nil {
		t.Fatalf("found too few families to prove anything: %v", families)
	}
	rows := tableRows(section(t, readme(t), "Metrics, health"))
	for name, labels := range families {
		row, ok := tableRowOf(t, rows, "metrics table", name, "type", "labels", "meaning")
		if !ok {
			continue
		}
		words := regexp.MustCompile(`[a-z_]+`).FindAllString(row[1], -1)
		for _, l := range labels {
			if !slices.Contains(words, l) {
				t.Errorf("README row %s does not name its label %q (labels cell: %q)", name, l, row[1])
			}
		}
	}
	for name := range rows {
		if _, ok := families[name]; !ok {
			t.Errorf("README's metrics table lists %s, which metrics.New does not register", name)
		}
	}
}
