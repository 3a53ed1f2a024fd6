package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/config"
	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/schedule"
)

// The example configuration yields a scheduler that New accepts, with one
// window slot per request slot of every endpoint, and streams that Add
// accepts.
func TestSchedulerConfigFromExampleConfig(t *testing.T) {
	cfg, err := config.LoadFile("../configs/garssld.hcl", config.SkipFileChecks())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MLLM.Endpoints = []string{"http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"}
	cfg.MLLM.MaxInFlight = 3
	sc := SchedulerConfig(cfg, "01RUN", 10*time.Second, hclog.NewNullLogger(), nil)
	if sc.MaxWindows != 6 || sc.WindowDeadline != cfg.MLLM.WindowDeadline || sc.SilenceDBFS != cfg.GAR.SilenceDBFS || sc.Node != cfg.NodeID {
		t.Fatalf("scheduler config %+v does not follow the file", sc)
	}
	loc := schedule.LocalizerFunc(func(context.Context, gar.Input) gar.Result { return gar.Result{} })
	s, err := schedule.New(sc, loc, func(string, uint64, *gar.Detection) {})
	if err != nil {
		t.Fatalf("schedule.New: %v", err)
	}
	if len(cfg.Streams) == 0 {
		t.Fatal("the example config has no stream")
	}
	for _, st := range cfg.Streams {
		ssc, err := StreamSchedule(st, nil)
		if err != nil {
			t.Fatalf("stream %s: %v", st.Name, err)
		}
		if ssc.MaxQueue != st.MaxQueue || ssc.StaleAfter != st.StaleAfter || (st.Camera != nil && ssc.HFOVDeg != st.Camera.HFOVDeg) {
			t.Fatalf("stream %s: %+v does not follow the file", st.Name, ssc)
		}
		if err := s.Add(ssc); err != nil {
			t.Fatalf("Add %s: %v", st.Name, err)
		}
	}
}
