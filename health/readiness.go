package health

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/garssl/garssld/gar/mllm"
)

// RefusalThreshold is how many 4xx answers in a row make an endpoint count
// as refusing garssld's requests. A wrong API key or model name gives a
// 4xx on every request, and the breaker, rightly, does not trip on them; a
// single 4xx is more often one bad request.
const RefusalThreshold = 3

// Readiness is what /readyz decides from. The daemon fills it on every
// request, so building it must be quick.
type Readiness struct {
	// Stopping is set once shutdown began.
	Stopping bool
	// MQTTConnected: the publisher is connected to the broker.
	MQTTConnected bool
	// Streams maps each stream's name to its state (connecting, running,
	// reconnecting, paused, stopped).
	Streams map[string]string
	// Endpoints are the model endpoints, from ModelWatch.Endpoints.
	Endpoints []Endpoint
	// Problems are further reasons, from other components, why the daemon
	// cannot deliver (each one makes /readyz answer 503).
	Problems []string
	// Warnings name what degrades delivery without stopping it: a stream
	// whose windows all turn stale, detections the broker does not echo.
	// /readyz stays 200 and lists them.
	Warnings []string
	// Degraded are the streams whose recent windows were all dropped before
	// they could be delivered fresh (schedule.Scheduler.Degraded). Each is a
	// warning; when every running stream is degraded, nothing is delivered
	// and /readyz answers 503.
	Degraded []DegradedStream
}

// DegradedStream is a stream the model is too slow for.
type DegradedStream struct {
	Stream string
	// Dropped counts its windows dropped in a row for freshness.
	Dropped int
	// ServiceTime is the measured time of one window's GAR loop (0: not
	// measured yet); StaleAfter the stream's stale_after.
	ServiceTime, StaleAfter time.Duration
}

// warning says what a degraded stream means and which settings help.
func (d DegradedStream) warning() string {
	took := "not measured yet"
	if d.ServiceTime > 0 {
		took = d.ServiceTime.Round(10*time.Millisecond).String() + " per window (p90 of recent windows)"
	}
	return fmt.Sprintf("stream %s is degraded: its last %d windows were dropped before they could be delivered fresh "+
		"(stale, too_late, superseded or queue_full); the model takes %s, more than stream.stale_after = %s allows "+
		"once windows wait their turn. What helps: a longer stream.stale_after, a higher mllm.max_in_flight or another "+
		"endpoint if the server has capacity, fewer gar.analysis_trials, a smaller mllm.model or gar.model_size, "+
		"or fewer windows (a longer stream.hop)", d.Stream, d.Dropped, took, d.StaleAfter)
}

// Endpoint is one model endpoint's health as far as readiness cares.
type Endpoint struct {
	Name string `json:"endpoint"` // the display form of the base URL
	// Breaker is mllm.BreakerClosed, BreakerHalfOpen or BreakerOpen.
	Breaker string `json:"breaker"`
	// Consecutive4xx counts 4xx answers since the last accepted request.
	Consecutive4xx int `json:"consecutive_4xx"`
	// Problem is a setup problem of the model server that keeps it from
	// serving garssld, with its fix (it cannot take the images or audio:
	// mllm.ErrUnsupportedMedia); empty when there is none. Not an outage:
	// the server answers, but not to what garssld sends.
	Problem string `json:"problem,omitempty"`
}

// refusing reports whether the endpoint answers everything with 4xx.
func (e Endpoint) refusing() bool { return e.Consecutive4xx >= RefusalThreshold }

// usable reports whether requests to the endpoint can succeed.
func (e Endpoint) usable() bool {
	return e.Breaker != mllm.BreakerOpen && !e.refusing() && e.Problem == ""
}

// Report is the JSON body of /readyz, and what `garssld status` reads.
type Report struct {
	Ready bool `json:"ready"`
	// Reasons say, for an operator, why the daemon is not ready; empty
	// when it is.
	Reasons []string `json:"reasons"`
	// Warnings say what degrades delivery while the daemon stays ready.
	Warnings  []string          `json:"warnings"`
	MQTT      MQTTReport        `json:"mqtt"`
	Streams   map[string]string `json:"streams"`
	Endpoints []EndpointReport  `json:"endpoints"`
}

// MQTTReport is the broker connection in a Report.
type MQTTReport struct {
	Connected bool `json:"connected"`
}

// EndpointReport is one model endpoint in a Report.
type EndpointReport struct {
	Endpoint
	Refusing bool `json:"refusing"`
}

// Decide turns readiness inputs into a Report. Ready means: MQTT
// connected, at least one stream running, and at least one model endpoint
// whose breaker is not open, which does not refuse every request and which
// has no setup problem (Endpoint.Problem). An endpoint with a problem is
// named with its fix, as misconfigured rather than down.
// Cameras and the model server failing do not restart garssld (that would
// not fix them); they make it not ready, which is what a load balancer or
// an operator needs to know.
func Decide(r Readiness) Report {
	rep := Report{
		Reasons:   []string{},
		Warnings:  append([]string{}, r.Warnings...),
		MQTT:      MQTTReport{Connected: r.MQTTConnected},
		Streams:   r.Streams,
		Endpoints: make([]EndpointReport, 0, len(r.Endpoints)),
	}
	if rep.Streams == nil {
		rep.Streams = map[string]string{}
	}
	if r.Stopping {
		rep.Reasons = append(rep.Reasons, "garssld is shutting down")
	}
	if !r.MQTTConnected {
		rep.Reasons = append(rep.Reasons, "mqtt: not connected to the broker")
	}
	if reason := streamsReason(r.Streams); reason != "" {
		rep.Reasons = append(rep.Reasons, reason)
	} else if reason := degradedReason(r.Streams, r.Degraded); reason != "" {
		rep.Reasons = append(rep.Reasons, reason)
	}
	for _, d := range r.Degraded {
		rep.Warnings = append(rep.Warnings, d.warning())
	}
	usable := 0
	var problems []string
	for _, e := range r.Endpoints {
		rep.Endpoints = append(rep.Endpoints, EndpointReport{Endpoint: e, Refusing: e.refusing()})
		switch {
		case e.usable():
			usable++
		case e.Problem != "":
			problems = append(problems, fmt.Sprintf("%s is misconfigured: it cannot take the images or audio garssld sends; fix: %s", e.Name, e.Problem))
		case e.refusing():
			problems = append(problems, fmt.Sprintf("%s refuses requests (%d 4xx answers in a row; check mllm.api_key_file and mllm.model)", e.Name, e.Consecutive4xx))
		default:
			problems = append(problems, fmt.Sprintf("%s has its circuit breaker open (connection errors, timeouts or 5xx answers)", e.Name))
		}
	}
	switch {
	case len(r.Endpoints) == 0:
		rep.Reasons = append(rep.Reasons, "model: no endpoint known")
	case usable == 0:
		rep.Reasons = append(rep.Reasons, "model: no usable endpoint: "+strings.Join(problems, "; "))
	}
	rep.Reasons = append(rep.Reasons, r.Problems...)
	rep.Ready = len(rep.Reasons) == 0
	return rep
}

// degradedReason is the reason when no running stream delivers: every one
// is degraded. A running stream that is not degraded can still deliver.
func degradedReason(streams map[string]string, degraded []DegradedStream) string {
	if len(degraded) == 0 {
		return ""
	}
	var names []string
	for name, state := range streams {
		if state != "running" {
			continue
		}
		if !slices.ContainsFunc(degraded, func(d DegradedStream) bool { return d.Stream == name }) {
			return ""
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return "" // no stream runs: streamsReason says so
	}
	sort.Strings(names)
	return "streams: every running stream is degraded, no window is delivered fresh (" + strings.Join(names, ", ") + "; see warnings)"
}

func streamsReason(streams map[string]string) string {
	if len(streams) == 0 {
		return "streams: none configured"
	}
	names := make([]string, 0, len(streams))
	for name, state := range streams {
		if state == "running" {
			return ""
		}
		names = append(names, name)
	}
	sort.Strings(names)
	states := make([]string, len(names))
	for i, name := range names {
		states[i] = name + " " + streams[name]
	}
	return "streams: none is running (" + strings.Join(states, ", ") + ")"
}

// ModelWatch follows the model client's breaker states and 4xx answers
// for readiness. It implements mllm.Observer and passes every call on to
// next (the metrics), so the daemon hands mllm.New one observer. Use a new
// ModelWatch with each model client: endpoints a reload removed are not
// forgotten otherwise.
type ModelWatch struct {
	next mllm.Observer

	mu        sync.Mutex
	endpoints []Endpoint // in the order the client reported them
}

// NewModelWatch returns a ModelWatch that forwards to next; next may be nil.
func NewModelWatch(next mllm.Observer) *ModelWatch {
	if next == nil {
		next = mllm.NopObserver{}
	}
	return &ModelWatch{next: next}
}

// Request implements mllm.Observer. A 4xx answer counts towards refusing;
// an answer the server accepted (ok, or a 200 with a malformed body) ends
// the run; transport failures, timeouts and 5xx are the breaker's business
// and, like 429 (throttled: a busy server, not a refusing one), leave the
// count alone.
func (w *ModelWatch) Request(endpoint, stage, result string, d time.Duration) {
	w.next.Request(endpoint, stage, result, d)
	if endpoint == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.endpoint(endpoint)
	switch result {
	case mllm.ResultHTTP4xx:
		e.Consecutive4xx++
	case mllm.ResultOK, mllm.ResultBadResponse:
		e.Consecutive4xx = 0
	}
}

// BreakerState implements mllm.Observer.
func (w *ModelWatch) BreakerState(endpoint, state string) {
	w.next.BreakerState(endpoint, state)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.endpoint(endpoint).Breaker = state
}

// EndpointProblem implements mllm.ProblemObserver: the endpoint's setup
// problem, or "" once it serves again. It is passed on when next follows
// problems too.
func (w *ModelWatch) EndpointProblem(endpoint, problem string) {
	if po, ok := w.next.(mllm.ProblemObserver); ok {
		po.EndpointProblem(endpoint, problem)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.endpoint(endpoint).Problem = problem
}

// endpoint returns the entry for name, adding a closed one; w.mu is held.
func (w *ModelWatch) endpoint(name string) *Endpoint {
	i := slices.IndexFunc(w.endpoints, func(e Endpoint) bool { return e.Name == name })
	if i < 0 {
		w.endpoints = append(w.endpoints, Endpoint{Name: name, Breaker: mllm.BreakerClosed})
		i = len(w.endpoints) - 1
	}
	return &w.endpoints[i]
}

// Endpoints returns a copy of every endpoint's state, for Readiness.
func (w *ModelWatch) Endpoints() []Endpoint {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.endpoints)
}
