// Package promtest reads what a piece of code registers on a Prometheus
// registry, for tests that must cover every family whether or not it has
// series yet.
package promtest

import (
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// recordingRegisterer keeps every collector registered through it.
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

// Families calls register with a fresh registry and returns every family
// the collectors it registered describe, by fully-qualified name, each
// with its variable labels.
func Families(t testing.TB, register func(prometheus.Registerer) error) map[string][]string {
	t.Helper()
	rec := &recordingRegisterer{Registerer: prometheus.NewRegistry()}
	if err := register(rec); err != nil {
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
			var labels []string
			if m[2] != "" {
				for _, l := range strings.Split(m[2], ",") {
					labels = append(labels, strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"))
				}
			}
			families[m[1]] = labels
		}
	}
	return families
}
