package metrics

import (
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Model is the observer of one model client (mllm.Observer). Get one per
// client from Metrics.Model and make it current with Metrics.UseModel
// once the client is put to use.
//
// A client is built before a reload is applied, and its construction
// already reports each endpoint's breaker. So that a refused reload leaves
// no series, a Model records nothing before UseModel. After another Model
// becomes current, the old client may still finish windows: its requests
// count for endpoints the current client also has, and its breaker states
// are no longer exported (the current client's breakers are the truth).
type Model struct {
	m *Metrics

	// Under m.modelMu.
	breakers  map[string]string // latest state per endpoint, as reported
	endpoints []string          // in the order reported
	used      bool              // current now or before
}

// Model returns an observer for a new model client.
func (m *Metrics) Model() *Model {
	return &Model{m: m, breakers: map[string]string{}}
}

// UseModel makes o the current model client's observer: every series of
// an endpoint o's client does not have is deleted, and o's breaker states
// are exported.
func (m *Metrics) UseModel(o *Model) {
	m.modelMu.Lock()
	defer m.modelMu.Unlock()
	if prev := m.model; prev != nil && prev != o {
		for _, ep := range prev.endpoints {
			if _, kept := o.breakers[ep]; !kept {
				l := prometheus.Labels{"endpoint": ep}
				m.requests.DeletePartialMatch(l)
				m.requestDuration.DeletePartialMatch(l)
				m.breaker.DeletePartialMatch(l)
			}
		}
	}
	m.model = o
	o.used = true
	for _, ep := range o.endpoints {
		m.setBreaker(ep, o.breakers[ep])
	}
}

// Request implements mllm.Observer: one attempt at a model request.
func (o *Model) Request(endpoint, stage, result string, d time.Duration) {
	m := o.m
	m.modelMu.RLock()
	defer m.modelMu.RUnlock()
	if !o.used || endpoint != "" && !m.model.has(endpoint) {
		return
	}
	m.requests.WithLabelValues(endpoint, stage, result).Inc()
	if endpoint != "" { // empty: refused before any endpoint was chosen
		m.requestDuration.WithLabelValues(endpoint, stage).Observe(d.Seconds())
	}
}

// BreakerState implements mllm.Observer: endpoint's breaker is now in
// state. The client reports every endpoint's initial state when it is
// built, which is how o learns its endpoints.
func (o *Model) BreakerState(endpoint, state string) {
	m := o.m
	m.modelMu.Lock()
	defer m.modelMu.Unlock()
	if _, known := o.breakers[endpoint]; !known {
		o.endpoints = append(o.endpoints, endpoint)
	}
	o.breakers[endpoint] = state
	if m.model == o {
		m.setBreaker(endpoint, state)
	}
}

// has reports whether endpoint is one of o's client; o may be nil.
func (o *Model) has(endpoint string) bool {
	return o != nil && slices.Contains(o.endpoints, endpoint)
}

// setBreaker exports endpoint's breaker state as one 1 among 0s.
func (m *Metrics) setBreaker(endpoint, state string) {
	for _, s := range breakerStates {
		v := 0.0
		if s == state {
			v = 1
		}
		m.breaker.WithLabelValues(endpoint, s).Set(v)
	}
}
