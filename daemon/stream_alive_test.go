package daemon

import (
	"testing"
	"time"

	"github.com/garssl/garssld/capture"
	"github.com/garssl/garssld/config"
	"github.com/garssl/garssld/windowing"
)

// fakeSource plays a capture.Source's counters and state.
type fakeSource struct {
	packets uint64
	state   capture.State
}

func (f *fakeSource) Stats() capture.Stats   { return capture.Stats{Packets: f.packets} }
func (f *fakeSource) Status() capture.Status { return capture.Status{State: f.state} }

// alive is what a stream supervisor's heartbeat rests on: a capture call
// stuck past its limit is hung whatever the state; a running capture with
// neither packets nor media past stall_timeout + slack is hung (capture's
// own stall watchdog should have reopened it); connecting and
// reconnecting are alive however long they take.
func TestSupervisorAliveRules(t *testing.T) {
	cutter, err := windowing.NewCutter(windowing.Config{Stream: "s", Length: time.Second, Hop: time.Second}, func(windowing.Window) {})
	if err != nil {
		t.Fatal(err)
	}
	s := newSupervisor(config.Stream{Name: "s", StallTimeout: time.Second}, streamEnv{
		beatEvery: time.Millisecond, sinkCallLimit: time.Second, stallSlack: time.Second,
	}, streamCarry{}, true)
	sinkAt := func(lastReturn, callFor time.Duration) *watchedSink {
		sink := newWatchedSink(cutter, nil)
		sink.epoch = time.Now().Add(-time.Hour)
		sink.lastReturn.Store(int64(time.Hour - lastReturn))
		if callFor > 0 {
			sink.callStart.Store(int64(time.Hour - callFor))
		}
		return sink
	}
	long := time.Minute
	for _, tc := range []struct {
		name         string
		state        capture.State
		packetsMoved bool
		lastReturn   time.Duration // since a sink call returned
		callFor      time.Duration // a call in progress for this long
		quietFor     time.Duration // since progress was last seen
		alive        bool
	}{
		{"running, media flowing", capture.StateRunning, true, 0, 0, long, true},
		{"running, packets only (decoder rejects all)", capture.StateRunning, true, long, 0, long, true},
		{"running, quiet within stall timeout + slack", capture.StateRunning, false, long, 0, 1500 * time.Millisecond, true},
		{"running, quiet past stall timeout + slack", capture.StateRunning, false, long, 0, 3 * time.Second, false},
		{"reconnecting for long", capture.StateReconnecting, false, long, 0, long, true},
		{"connecting for long", capture.StateConnecting, false, long, 0, long, true},
		{"a call stuck past its limit", capture.StateRunning, true, long, 2 * time.Second, 0, false},
		{"a call stuck while reconnecting", capture.StateReconnecting, false, long, 2 * time.Second, 0, false},
		{"a call in progress within its limit", capture.StateRunning, false, 0, 500 * time.Millisecond, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &fakeSource{packets: 10, state: tc.state}
			sess := &session{src: src, sink: sinkAt(tc.lastReturn, tc.callFor), packets: 10, moved: time.Now().Add(-tc.quietFor)}
			if tc.packetsMoved {
				src.packets++
			}
			if got := s.alive(sess); got != tc.alive {
				t.Errorf("alive = %v, want %v", got, tc.alive)
			}
		})
	}
}
