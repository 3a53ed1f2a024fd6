package daemon

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/garssl/garssld/capture"
	"github.com/garssl/garssld/config"
)

// stateReport is one onState call.
type stateReport struct {
	state, errText string
	seq            uint64
}

// The camera and a separate microphone call back from their own
// goroutines after capture's lock is released, so a capture status can
// arrive after a newer one. The supervisor keeps the newest (what
// /readyz and the metrics read) and reports only newer states, each with
// a higher number than the last; a restarted stream's supervisor numbers
// on above its predecessor's.
func TestSupervisorKeepsTheNewestCaptureState(t *testing.T) {
	var (
		counter atomic.Uint64
		mu      sync.Mutex
		reports []stateReport
	)
	env := streamEnv{
		stateSeq: func() uint64 { return counter.Add(1) },
		onState: func(_, state, errText string, seq uint64) {
			mu.Lock()
			reports = append(reports, stateReport{state, errText, seq})
			mu.Unlock()
		},
	}
	s := newSupervisor(config.Stream{Name: "front"}, env, streamCarry{}, true)
	var last uint64
	running := capture.Status{State: capture.StateRunning, Seq: 2}
	stale := capture.Status{State: capture.StateReconnecting, LastError: "mic: EOF", Seq: 1}
	s.captureState(&last, running)
	s.captureState(&last, stale) // arrives second
	if state, errText, _ := s.status(); state != "running" || errText != "" {
		t.Errorf("status after a late older callback = %s %q, want running", state, errText)
	}
	s.captureState(&last, capture.Status{State: capture.StateReconnecting, LastError: "camera: EOF", Seq: 3})
	s.setState(string(capture.StateStopped), "")

	want := []string{"running", "reconnecting", "stopped"}
	if len(reports) != len(want) {
		t.Fatalf("reports %+v, want the states %v", reports, want)
	}
	for i, r := range reports {
		if r.state != want[i] || (i > 0 && r.seq <= reports[i-1].seq) {
			t.Errorf("report %d = %+v, want %s with a seq above the previous", i, r, want[i])
		}
	}
	if _, _, seq := s.status(); seq != reports[len(reports)-1].seq {
		t.Errorf("status seq %d, want the last report's %d", seq, reports[len(reports)-1].seq)
	}

	// A reload restarts the stream: its new supervisor, with the daemon's
	// counter, numbers above everything its predecessor reported, so the
	// publisher does not drop its states as old.
	next := newSupervisor(config.Stream{Name: "front"}, env, s.carried(), true)
	next.setState(string(capture.StateRunning), "")
	if r := reports[len(reports)-1]; r.state != "running" || r.seq <= reports[len(reports)-2].seq {
		t.Errorf("the restarted stream's first report %+v is not numbered above %+v", r, reports[len(reports)-2])
	}
}
