package health

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/garssl/garssld/gar/mllm"
)

const gpu1, gpu2 = "http://gpu-1:8000/v1", "http://gpu-2:8000/v1"

// A degraded stream is a warning; 503 only when every running stream is
// degraded, since then nothing is delivered.
func TestDecideDegraded(t *testing.T) {
	closed := []Endpoint{{Name: gpu1, Breaker: mllm.BreakerClosed}}
	front := DegradedStream{Stream: "front", Dropped: 12, ServiceTime: 7234 * time.Millisecond, StaleAfter: 6 * time.Second}
	back := DegradedStream{Stream: "back", Dropped: 10, StaleAfter: 6 * time.Second}
	tests := []struct {
		name     string
		streams  map[string]string
		degraded []DegradedStream
		reasons  []string
	}{
		{"one of two degraded", map[string]string{"front": "running", "back": "running"}, []DegradedStream{front}, []string{}},
		{"both degraded", map[string]string{"front": "running", "back": "running"}, []DegradedStream{front, back},
			[]string{"streams: every running stream is degraded, no window is delivered fresh (back, front; see warnings)"}},
		{"the only running one degraded", map[string]string{"front": "running", "back": "paused"}, []DegradedStream{front},
			[]string{"streams: every running stream is degraded, no window is delivered fresh (front; see warnings)"}},
		{"degraded but none running", map[string]string{"front": "reconnecting"}, []DegradedStream{front},
			[]string{"streams: none is running (front reconnecting)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := Decide(Readiness{MQTTConnected: true, Streams: tt.streams, Endpoints: closed, Degraded: tt.degraded,
				Warnings: []string{"other"}})
			if !reflect.DeepEqual(rep.Reasons, tt.reasons) || rep.Ready != (len(tt.reasons) == 0) {
				t.Errorf("ready %v, reasons %q; want %q", rep.Ready, rep.Reasons, tt.reasons)
			}
			if len(rep.Warnings) != 1+len(tt.degraded) || rep.Warnings[0] != "other" {
				t.Fatalf("warnings %q: want the other component's first, then one per degraded stream", rep.Warnings)
			}
		})
	}
	got := front.warning()
	for _, want := range []string{"stream front is degraded", "last 12 windows", "7.23s per window", "stream.stale_after = 6s",
		"mllm.max_in_flight", "gar.analysis_trials", "smaller mllm.model"} {
		if !strings.Contains(got, want) {
			t.Errorf("warning %q does not say %q", got, want)
		}
	}
	if got := back.warning(); !strings.Contains(got, "not measured yet") {
		t.Errorf("warning without a service time: %q", got)
	}
}

func TestDecide(t *testing.T) {
	running := map[string]string{"front": "running", "back": "reconnecting"}
	closed := []Endpoint{{Name: gpu1, Breaker: mllm.BreakerClosed}}
	tests := []struct {
		name    string
		in      Readiness
		reasons []string
	}{
		{"ready", Readiness{MQTTConnected: true, Streams: running, Endpoints: closed}, nil},
		{"mqtt down", Readiness{Streams: running, Endpoints: closed},
			[]string{"mqtt: not connected to the broker"}},
		{"no stream running", Readiness{MQTTConnected: true, Streams: map[string]string{"front": "reconnecting", "back": "paused"}, Endpoints: closed},
			[]string{"streams: none is running (back paused, front reconnecting)"}},
		{"no streams", Readiness{MQTTConnected: true, Endpoints: closed},
			[]string{"streams: none configured"}},
		{"one breaker open of two", Readiness{MQTTConnected: true, Streams: running, Endpoints: []Endpoint{
			{Name: gpu1, Breaker: mllm.BreakerOpen}, {Name: gpu2, Breaker: mllm.BreakerClosed}}}, nil},
		{"half-open probes", Readiness{MQTTConnected: true, Streams: running, Endpoints: []Endpoint{
			{Name: gpu1, Breaker: mllm.BreakerHalfOpen}}}, nil},
		{"every breaker open", Readiness{MQTTConnected: true, Streams: running, Endpoints: []Endpoint{
			{Name: gpu1, Breaker: mllm.BreakerOpen}, {Name: gpu2, Breaker: mllm.BreakerOpen}}},
			[]string{"model: no usable endpoint: " + gpu1 + " has its circuit breaker open (connection errors, timeouts or 5xx answers); " +
				gpu2 + " has its circuit breaker open (connection errors, timeouts or 5xx answers)"}},
		{"two 4xx are not yet refusing", Readiness{MQTTConnected: true, Streams: running, Endpoints: []Endpoint{
			{Name: gpu1, Breaker: mllm.BreakerClosed, Consecutive4xx: RefusalThreshold - 1}}}, nil},
		{"refusing every request", Readiness{MQTTConnected: true, Streams: running, Endpoints: []Endpoint{
			{Name: gpu1, Breaker: mllm.BreakerClosed, Consecutive4xx: 7}}},
			[]string{"model: no usable endpoint: " + gpu1 + " refuses requests (7 4xx answers in a row; check mllm.api_key_file and mllm.model)"}},
		{"one refusing, the other open", Readiness{MQTTConnected: true, Streams: running, Endpoints: []Endpoint{
			{Name: gpu1, Breaker: mllm.BreakerClosed, Consecutive4xx: 3}, {Name: gpu2, Breaker: mllm.BreakerOpen}}},
			[]string{"model: no usable endpoint: " + gpu1 + " refuses requests (3 4xx answers in a row; check mllm.api_key_file and mllm.model); " +
				gpu2 + " has its circuit breaker open (connection errors, timeouts or 5xx answers)"}},
		{"misconfigured: not an outage, with its fix", Readiness{MQTTConnected: true, Streams: running, Endpoints: []Endpoint{
			{Name: gpu1, Breaker: mllm.BreakerClosed, Problem: "install vllm[audio]"}}},
			[]string{"model: no usable endpoint: " + gpu1 + " is misconfigured: it cannot take the images or audio garssld sends; fix: install vllm[audio]"}},
		{"one misconfigured, the other serving", Readiness{MQTTConnected: true, Streams: running, Endpoints: []Endpoint{
			{Name: gpu1, Breaker: mllm.BreakerClosed, Problem: "install vllm[audio]"}, {Name: gpu2, Breaker: mllm.BreakerClosed}}}, nil},
		{"no endpoint known", Readiness{MQTTConnected: true, Streams: running},
			[]string{"model: no endpoint known"}},
		{"stopping", Readiness{Stopping: true, MQTTConnected: true, Streams: running, Endpoints: closed},
			[]string{"garssld is shutting down"}},
		{"warnings keep it ready", Readiness{MQTTConnected: true, Streams: running, Endpoints: closed,
			Warnings: []string{"stream front: degraded"}}, nil},
		{"a component's problem", Readiness{MQTTConnected: true, Streams: running, Endpoints: closed,
			Problems: []string{"mqtt: the broker drops detections"}},
			[]string{"mqtt: the broker drops detections"}},
		{"everything down", Readiness{Streams: map[string]string{"front": "stopped"}, Endpoints: []Endpoint{{Name: gpu1, Breaker: mllm.BreakerOpen}}},
			[]string{"mqtt: not connected to the broker", "streams: none is running (front stopped)",
				"model: no usable endpoint: " + gpu1 + " has its circuit breaker open (connection errors, timeouts or 5xx answers)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := Decide(tt.in)
			want := tt.reasons
			if want == nil {
				want = []string{}
			}
			if !reflect.DeepEqual(rep.Reasons, want) {
				t.Errorf("reasons:\n got %q\nwant %q", rep.Reasons, want)
			}
			if rep.Ready != (len(want) == 0) {
				t.Errorf("Ready = %v with reasons %q", rep.Ready, rep.Reasons)
			}
			wantWarnings := tt.in.Warnings
			if wantWarnings == nil {
				wantWarnings = []string{}
			}
			if !reflect.DeepEqual(rep.Warnings, wantWarnings) {
				t.Errorf("warnings: got %q, want %q", rep.Warnings, wantWarnings)
			}
			if len(rep.Endpoints) != len(tt.in.Endpoints) {
				t.Errorf("report lists %d endpoints, want %d", len(rep.Endpoints), len(tt.in.Endpoints))
			}
		})
	}
}

type recorded struct{ endpoint, stage, result string }

type recorder struct {
	requests []recorded
	states   []string
}

func (r *recorder) Request(endpoint, stage, result string, _ time.Duration) {
	r.requests = append(r.requests, recorded{endpoint, stage, result})
}
func (r *recorder) BreakerState(endpoint, state string) {
	r.states = append(r.states, endpoint+"="+state)
}

func TestModelWatch(t *testing.T) {
	rec := &recorder{}
	w := NewModelWatch(rec)
	w.BreakerState(gpu1, mllm.BreakerClosed)
	w.BreakerState(gpu2, mllm.BreakerClosed)

	steps := []struct {
		endpoint, result string
		want4xx          [2]int
	}{
		{gpu1, mllm.ResultHTTP4xx, [2]int{1, 0}},
		{gpu1, mllm.ResultHTTP4xx, [2]int{2, 0}},
		{gpu1, mllm.ResultTimeout, [2]int{2, 0}}, // not an answer: the run goes on
		{gpu1, mllm.ResultHTTP5xx, [2]int{2, 0}},
		{gpu1, mllm.ResultThrottled, [2]int{2, 0}}, // busy, not refusing: the run goes on
		{gpu1, mllm.ResultHTTP4xx, [2]int{3, 0}},
		{gpu2, mllm.ResultHTTP4xx, [2]int{3, 1}}, // per endpoint
		{"", mllm.ResultBreakerOpen, [2]int{3, 1}},
		{gpu1, mllm.ResultBadResponse, [2]int{0, 1}}, // the server accepted the request
		{gpu2, mllm.ResultOK, [2]int{0, 0}},
	}
	for i, s := range steps {
		w.Request(s.endpoint, "locate", s.result, time.Second)
		eps := w.Endpoints()
		if len(eps) != 2 {
			t.Fatalf("step %d: %d endpoints, want 2", i, len(eps))
		}
		if got := [2]int{eps[0].Consecutive4xx, eps[1].Consecutive4xx}; got != s.want4xx {
			t.Errorf("step %d (%s %s): 4xx runs = %v, want %v", i, s.endpoint, s.result, got, s.want4xx)
		}
	}
	w.BreakerState(gpu2, mllm.BreakerOpen)
	if eps := w.Endpoints(); eps[0].Breaker != mllm.BreakerClosed || eps[1].Breaker != mllm.BreakerOpen {
		t.Errorf("breakers = %s %s, want closed open", eps[0].Breaker, eps[1].Breaker)
	}
	// Everything reached the next observer too.
	if len(rec.requests) != len(steps) || rec.requests[7] != (recorded{"", "locate", mllm.ResultBreakerOpen}) {
		t.Errorf("forwarded requests = %v", rec.requests)
	}
	if want := []string{gpu1 + "=closed", gpu2 + "=closed", gpu2 + "=open"}; !reflect.DeepEqual(rec.states, want) {
		t.Errorf("forwarded states = %v, want %v", rec.states, want)
	}
	// Endpoints returns a copy.
	eps := w.Endpoints()
	eps[0].Breaker = "mangled"
	if w.Endpoints()[0].Breaker != mllm.BreakerClosed {
		t.Error("Endpoints shares its slice with the watch")
	}
}

func TestModelWatchWithoutNext(t *testing.T) {
	w := NewModelWatch(nil)
	for range RefusalThreshold {
		w.Request(gpu1, "locate", mllm.ResultHTTP4xx, 0)
	}
	rep := Decide(Readiness{MQTTConnected: true, Streams: map[string]string{"front": "running"}, Endpoints: w.Endpoints()})
	if rep.Ready || !rep.Endpoints[0].Refusing {
		t.Errorf("after %d 4xx answers: %+v, want not ready with the endpoint refusing", RefusalThreshold, rep)
	}
}

// A server that answers 429 to everything is busy, not refusing garssld:
// however many throttled answers come, the endpoint stays usable.
func TestThrottlingIsNotRefusal(t *testing.T) {
	w := NewModelWatch(nil)
	w.BreakerState(gpu1, mllm.BreakerClosed)
	for range 10 * RefusalThreshold {
		w.Request(gpu1, "locate", mllm.ResultThrottled, 0)
	}
	rep := Decide(Readiness{MQTTConnected: true, Streams: map[string]string{"front": "running"}, Endpoints: w.Endpoints()})
	if !rep.Ready || rep.Endpoints[0].Refusing || rep.Endpoints[0].Consecutive4xx != 0 {
		t.Errorf("after %d throttled answers: %+v, want ready", 10*RefusalThreshold, rep)
	}
}

// The model client's report of a setup problem reaches /readyz, and its
// end clears it.
func TestModelWatchFollowsProblems(t *testing.T) {
	w := NewModelWatch(nil)
	w.BreakerState(gpu1, mllm.BreakerClosed)
	var po mllm.ProblemObserver = w
	po.EndpointProblem(gpu1, "restart llama-server with --mmproj")
	rep := Decide(Readiness{MQTTConnected: true, Streams: map[string]string{"front": "running"}, Endpoints: w.Endpoints()})
	if rep.Ready || len(rep.Endpoints) != 1 || rep.Endpoints[0].Problem == "" || !strings.Contains(strings.Join(rep.Reasons, ";"), "--mmproj") {
		t.Errorf("with a setup problem: %+v", rep)
	}
	po.EndpointProblem(gpu1, "")
	if rep := Decide(Readiness{MQTTConnected: true, Streams: map[string]string{"front": "running"}, Endpoints: w.Endpoints()}); !rep.Ready {
		t.Errorf("after the problem cleared: %+v", rep)
	}
}
