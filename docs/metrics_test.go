package docs

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/garssl/garssld/internal/promtest"
	"github.com/garssl/garssld/metrics"
)

// registeredFamilies returns the garssl_ families metrics.New registers,
// without the prefix, each with its variable labels.
func registeredFamilies(t *testing.T) map[string][]string {
	t.Helper()
	families := make(map[string][]string)
	for name, labels := range promtest.Families(t, func(reg prometheus.Registerer) error {
		_, err := metrics.New(reg, metrics.Options{Version: "test"})
		return err
	}) {
		if name, ok := strings.CutPrefix(name, "garssl_"); ok { // not the Go and process collectors
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
