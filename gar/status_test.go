package gar_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/gar/mllm"
	"github.com/garssl/garssld/omnisim"
	"github.com/garssl/garssld/omnisim/omnisimtest"
)

var attemptSuffix = regexp.MustCompile(`/a[0-9]+$`)

// failingSim serves omnisim, except that requests whose id (without its
// attempt suffix) is in fail get that HTTP status.
func failingSim(t *testing.T, fail map[string]int) string {
	t.Helper()
	_, url := omnisimtest.Serve(t, simConfig(3), func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := attemptSuffix.ReplaceAllString(r.Header.Get("X-Request-Id"), "")
			if code, ok := fail[strings.TrimPrefix(id, "robot/front/7/")]; ok {
				w.WriteHeader(code)
				fmt.Fprintf(w, `{"object":"error","message":"injected %d","code":%d}`, code, code)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	return url
}

// TestStatusSaysWhatHappened: design §4 keeps mllm_unavailable for windows
// the model could not localise. A failed generation is that, whatever the
// failure; a failed trial, audio or refinement request leaves a window the
// loop can still decide, so it stays ok, and every failure is listed.
func TestStatusSaysWhatHappened(t *testing.T) {
	sch := compileDetectionSchema(t)
	tests := []struct {
		name        string
		cfg         gar.Config
		fail        map[string]int
		want        gar.Status
		errContains string // in the payload's error
		failures    []string
		check       func(t *testing.T, res gar.Result)
	}{
		{
			name: "locate 5xx", cfg: gar.Config{SupportsN: true}, fail: map[string]int{"locate": 503},
			want: gar.StatusMLLMUnavailable, errContains: "HTTP 503: injected 503", failures: []string{"locate"},
		},
		{
			name: "locate 4xx", cfg: gar.Config{SupportsN: true}, fail: map[string]int{"locate": 400},
			want: gar.StatusMLLMUnavailable, errContains: "HTTP 400: injected 400", failures: []string{"locate"},
		},
		{
			name: "locate 401", cfg: gar.Config{SupportsN: true}, fail: map[string]int{"locate": 401},
			want: gar.StatusMLLMUnavailable, errContains: "mllm.api_key_file", failures: []string{"locate"},
		},
		{
			name: "one analysis trial fails", cfg: gar.Config{Schedule: gar.ScheduleSequential}, fail: map[string]int{"analysis/t2": 400},
			want: gar.StatusOK, failures: []string{"analysis"},
			check: func(t *testing.T, res gar.Result) {
				if res.GAR.ValidTrials != gar.DefaultAnalysisTrials-1 {
					t.Errorf("%d valid trials, want %d: the failed one counts as unparsed", res.GAR.ValidTrials, gar.DefaultAnalysisTrials-1)
				}
				if f := res.Failures[0]; f.Trial == nil || *f.Trial != 2 {
					t.Errorf("failure %+v does not name trial 2", f)
				}
			},
		},
		{
			name: "refinement fails", cfg: gar.Config{SupportsN: true, TauAudio: 1}, fail: map[string]int{"refine": 502},
			want: gar.StatusOK, failures: []string{"refine"},
			check: func(t *testing.T, res gar.Result) {
				src := res.Sources[0]
				if src.BBoxModel != src.InitialBBoxModel || src.Refined || src.Changed {
					t.Errorf("final %v, initial %v, refined %v; want the initial box kept, not refined", src.BBoxModel, src.InitialBBoxModel, src.Refined)
				}
			},
		},
		{
			name: "audio fails", cfg: gar.Config{SupportsN: true}, fail: map[string]int{"audio": 500},
			want: gar.StatusOK, failures: []string{"audio"},
			check: func(t *testing.T, res gar.Result) {
				if res.Audio.Label != "" || !res.Sources[0].Refined {
					t.Errorf("label %q, refined %v; want no label, and refinement for a source of unknown sound", res.Audio.Label, res.Sources[0].Refined)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := clientConfigFor(failingSim(t, tt.fail))
			// The breaker must not be what decides here.
			cc.Breaker = mllm.BreakerConfig{ConsecutiveFailures: 100, OpenFor: time.Minute}
			res := localize(t, newLocalizer(t, tt.cfg, newClient(t, cc)), testInput(t, 7, 0))
			if res.Status != tt.want {
				t.Fatalf("status %s (err %v), want %s", res.Status, res.Err, tt.want)
			}
			var stages []string
			for _, f := range res.Failures {
				stages = append(stages, f.Stage)
				if f.Error == "" {
					t.Errorf("failure %+v without a reason", f)
				}
			}
			if strings.Join(stages, ",") != strings.Join(tt.failures, ",") {
				t.Errorf("failures %+v, want stages %v", res.Failures, tt.failures)
			}
			if tt.want == gar.StatusOK && (res.Err != nil || len(res.Sources) != 1) {
				t.Errorf("ok window with err %v and %d sources", res.Err, len(res.Sources))
			}
			text, err := json.Marshal(gar.NewDetection(gar.WindowMeta{Node: "robot", RunID: "r", Stream: "front", Seq: 7,
				Start: time.Unix(0, 0), End: time.Unix(3, 0), FrameWidth: 1280, FrameHeight: 720, ModelWidth: 224, ModelHeight: 224}, res))
			if err != nil {
				t.Fatal(err)
			}
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(text))
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(inst); err != nil {
				t.Errorf("payload rejected by the schema: %v\n%s", err, text)
			}
			var got struct {
				Error    string            `json:"error"`
				Failures []json.RawMessage `json:"failures"`
			}
			if err := json.Unmarshal(text, &got); err != nil {
				t.Fatal(err)
			}
			if tt.errContains != "" && !strings.Contains(got.Error, tt.errContains) {
				t.Errorf("payload error %q lacks %q", got.Error, tt.errContains)
			}
			if tt.want == gar.StatusOK && got.Error != "" {
				t.Errorf("ok payload with error %q", got.Error)
			}
			if len(got.Failures) != len(tt.failures) {
				t.Errorf("payload lists %d failures, want %d:\n%s", len(got.Failures), len(tt.failures), text)
			}
			if tt.check != nil {
				tt.check(t, res)
			}
		})
	}
}

// TestFailuresShowNoSecrets: a server's error message goes into the
// published payload (error, failures), so a URL it quotes must lose its
// credentials there: a proxy in front of vLLM names its upstream, user and
// key included.
func TestFailuresShowNoSecrets(t *testing.T) {
	_, url := omnisimtest.Serve(t, simConfig(3), func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, `{"object":"error","message":"upstream http://vllm:S3CRET@10.0.0.9:8000/v1/chat/completions?api_key=S3CRET refused the connection"}`)
		})
	})
	cc := clientConfigFor(url)
	cc.Breaker = mllm.BreakerConfig{ConsecutiveFailures: 100, OpenFor: time.Minute}
	res := localize(t, newLocalizer(t, gar.Config{SupportsN: true}, newClient(t, cc)), testInput(t, 7, 0))
	if res.Status != gar.StatusMLLMUnavailable || len(res.Failures) == 0 {
		t.Fatalf("status %s with %d failures; want mllm_unavailable and the failed requests listed", res.Status, len(res.Failures))
	}
	text, err := json.Marshal(gar.NewDetection(gar.WindowMeta{Node: "robot", RunID: "r", Stream: "front", Seq: 7,
		Start: time.Unix(0, 0), End: time.Unix(3, 0), FrameWidth: 1280, FrameHeight: 720, ModelWidth: 224, ModelHeight: 224}, res))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Error    string             `json:"error"`
		Failures []gar.StageFailure `json:"failures"`
	}
	if err := json.Unmarshal(text, &got); err != nil {
		t.Fatal(err)
	}
	reasons := []string{got.Error}
	for _, f := range got.Failures {
		reasons = append(reasons, f.Error)
	}
	for _, r := range reasons {
		if !strings.Contains(r, "upstream http://xxxxx@10.0.0.9:8000") {
			t.Errorf("reason %q does not carry the server's message, redacted", r)
		}
	}
	if strings.Contains(string(text), "S3") {
		t.Errorf("the payload shows the secret:\n%s", text)
	}
}

// TestInvalidAnswerSaysWhyOnce: a locate answer without a usable box is
// invalid_model_output, and the reason reads once ("locate answer: …").
func TestInvalidAnswerSaysWhyOnce(t *testing.T) {
	cfg := simConfig(1)
	cfg.Faults.GarbageRate = 1
	s := startSim(t, cfg, nil)
	res := localize(t, newLocalizer(t, gar.Config{SupportsN: true}, newClient(t, s.clientConfig())), testInput(t, 7, 0))
	if res.Status != gar.StatusInvalidModelOutput || !errors.Is(res.Err, gar.ErrInvalidAnswer) {
		t.Fatalf("status %s, err %v", res.Status, res.Err)
	}
	if msg := res.Err.Error(); strings.Count(msg, "locate answer") != 1 {
		t.Errorf("error %q repeats itself", msg)
	}
}

// TestHungServerOpensTheBreaker: a server that never answers opens the
// breaker whether the window's deadline is shorter or longer than the
// request timeout, so windows stop waiting on it.
func TestHungServerOpensTheBreaker(t *testing.T) {
	tests := []struct{ deadline, timeout time.Duration }{
		{deadline: 300 * time.Millisecond, timeout: 10 * time.Second},
		{deadline: 10 * time.Second, timeout: 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("window_deadline=%s,timeout=%s", tt.deadline, tt.timeout), func(t *testing.T) {
			s := startSim(t, simConfig(1), nil)
			if err := s.SetFaults(omnisim.Faults{TimeoutRate: 1, HangMax: time.Minute}); err != nil {
				t.Fatal(err)
			}
			cc := s.clientConfig()
			cc.Timeout = tt.timeout
			cc.Breaker = mllm.BreakerConfig{ConsecutiveFailures: 4, OpenFor: time.Minute}
			client := newClient(t, cc)
			l := newLocalizer(t, gar.Config{SupportsN: true}, client)
			for seq := 1; seq <= 4 && client.States()[0].Breaker != mllm.BreakerOpen; seq++ {
				ctx, cancel := context.WithTimeout(context.Background(), tt.deadline)
				res := l.Localize(ctx, testInput(t, seq, 0))
				cancel()
				if res.Status != gar.StatusMLLMUnavailable {
					t.Fatalf("window %d: status %s, want mllm_unavailable", seq, res.Status)
				}
			}
			if st := client.States()[0].Breaker; st != mllm.BreakerOpen {
				t.Fatalf("breaker %s after four windows against a hung server", st)
			}
			ctx, cancel := context.WithTimeout(context.Background(), tt.deadline)
			defer cancel()
			res := l.Localize(ctx, testInput(t, 9, 0))
			if !errors.Is(res.Err, mllm.ErrUnavailable) {
				t.Errorf("with the breaker open: err %v, want ErrUnavailable", res.Err)
			}
		})
	}
}
