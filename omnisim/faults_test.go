package omnisim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func audioBody(t testing.TB) []byte {
	return chatOpts{text: audioPrompt, audio: makeWAV(t, 1, 16000, 1)}.body(t)
}

func TestErrorRateAndHeal(t *testing.T) {
	cfg := testConfig()
	cfg.Faults.ErrorRate = 1
	s, ts := startServer(t, cfg)
	body := audioBody(t)
	for range 3 {
		r := postRaw(t, ts.URL, body, "n/f/1/audio")
		var e errorBody
		if r.status != http.StatusInternalServerError || json.Unmarshal(r.raw, &e) != nil || e.Error.Message == "" {
			t.Fatalf("error rate 1 gave %d %s, want 500 with an error JSON", r.status, r.raw)
		}
	}
	if got := s.Stats().Faults.Errors; got != 3 {
		t.Fatalf("stats errors = %d, want 3", got)
	}
	if err := s.SetFaults(Faults{}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	if r := postRaw(t, ts.URL, body, "n/f/1/audio"); r.status != http.StatusOK {
		t.Fatalf("after SetFaults: %d %s", r.status, r.raw)
	}
}

func TestGarbageIsUnparsable(t *testing.T) {
	cfg := testConfig()
	cfg.Faults.GarbageRate = 1
	s, ts := startServer(t, cfg)
	img, wav := plainJPEG(t, 224, 224, 1), makeWAV(t, 3, 16000, 1)
	seen := map[string]bool{}
	for i := range 12 {
		for _, o := range stageRequests(t, img, wav, i%2 == 0) {
			r := post(t, ts.URL, o)
			for _, c := range r.contents() {
				if json.Valid([]byte(c)) {
					t.Fatalf("garbage is valid JSON: %q", c)
				}
				if i, j := strings.Index(c, "{"), strings.LastIndex(c, "}"); i >= 0 && j > i && json.Valid([]byte(c[i:j+1])) {
					t.Fatalf("garbage holds a valid JSON object: %q", c)
				}
				switch {
				case strings.Contains(c, "NaN"):
					seen["nan"] = true
				case strings.Contains(c, "Infinity"):
					seen["inf"] = true
				case !strings.Contains(c, "{"):
					seen["prose"] = true
				default:
					seen["truncated"] = true
				}
			}
		}
	}
	if len(seen) != 4 {
		t.Fatalf("48 garbage requests showed only %v", seen)
	}
	if got := s.Stats().Faults.Garbage; got != 48 {
		t.Fatalf("stats garbage = %d, want 48", got)
	}
}

func TestDownWindow(t *testing.T) {
	cfg := testConfig()
	cfg.Faults.Down = []DownWindow{{From: 0, To: time.Hour}}
	s, ts := startServer(t, cfg)
	body := audioBody(t)
	if r := postRaw(t, ts.URL, body, "n/f/1/audio"); r.status != http.StatusServiceUnavailable {
		t.Fatalf("inside down window: %d %s", r.status, r.raw)
	}
	health, err := http.Get(ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	health.Body.Close()
	if health.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("healthz inside down window: %d", health.StatusCode)
	}
	if got := s.Stats().Faults.Down; got != 2 {
		t.Fatalf("stats down = %d, want 2", got)
	}

	// The admin endpoint stays up so a test can heal the server.
	resp, err := http.Post(ts.URL+"/admin/faults", "application/json", strings.NewReader(`{"down":""}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /admin/faults: %d", resp.StatusCode)
	}
	if r := postRaw(t, ts.URL, body, "n/f/1/audio"); r.status != http.StatusOK {
		t.Fatalf("after healing: %d %s", r.status, r.raw)
	}
}

func TestDownWindowCloses(t *testing.T) {
	cfg := testConfig()
	cfg.Faults.Down = []DownWindow{{From: 0, To: time.Hour, Close: true}}
	_, ts := startServer(t, cfg)
	if r, err := doPost(ts.URL, audioBody(t), "n/f/1/audio"); err == nil {
		t.Fatalf("down window with :close answered %d", r.status)
	}
}

func TestDownWindowLater(t *testing.T) {
	cfg := testConfig()
	cfg.Faults.Down = []DownWindow{{From: time.Hour, To: 2 * time.Hour}}
	_, ts := startServer(t, cfg)
	if r := postRaw(t, ts.URL, audioBody(t), "n/f/1/audio"); r.status != http.StatusOK {
		t.Fatalf("before the down window: %d %s", r.status, r.raw)
	}
}

func TestHang(t *testing.T) {
	cfg := testConfig()
	cfg.Faults.TimeoutRate = 1
	cfg.Faults.HangMax = 50 * time.Millisecond
	s, ts := startServer(t, cfg)
	if r := postRaw(t, ts.URL, audioBody(t), "n/f/1/audio"); r.status != http.StatusGatewayTimeout {
		t.Fatalf("hang past --hang-max: %d %s, want 504", r.status, r.raw)
	}

	if err := s.SetFaults(Faults{TimeoutRate: 1, HangMax: time.Hour}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/v1/chat/completions", bytes.NewReader(audioBody(t)))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a hanging server answered %s", resp.Status)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("client gave up only after %s", elapsed)
	}
	if got := s.Stats().Faults.Timeouts; got != 2 {
		t.Fatalf("stats timeouts = %d, want 2", got)
	}
}

func TestFaultSequenceIsSeeded(t *testing.T) {
	statuses := func(seed uint64) []int {
		cfg := testConfig()
		cfg.Seed = seed
		cfg.Faults.ErrorRate = 0.5
		_, ts := startServer(t, cfg)
		body := audioBody(t)
		var out []int
		for range 16 {
			out = append(out, postRaw(t, ts.URL, body, "n/f/1/audio").status)
		}
		return out
	}
	a, b := statuses(9), statuses(9)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same seed, different fault sequences:\n%v\n%v", a, b)
	}
	count := map[int]int{}
	for _, s := range a {
		count[s]++
	}
	if count[http.StatusOK] == 0 || count[http.StatusInternalServerError] == 0 {
		t.Fatalf("error rate 0.5 over 16 requests gave %v", count)
	}
}

func TestParseDownWindows(t *testing.T) {
	tests := []struct {
		spec    string
		want    []DownWindow
		wantErr bool
	}{
		{"", nil, false},
		{"10s-20s", []DownWindow{{From: 10 * time.Second, To: 20 * time.Second}}, false},
		{"10s-20s,40s-45s:close", []DownWindow{{From: 10 * time.Second, To: 20 * time.Second}, {From: 40 * time.Second, To: 45 * time.Second, Close: true}}, false},
		{" 0s-1m30s:503 ", []DownWindow{{From: 0, To: 90 * time.Second}}, false},
		{"20s-10s", nil, true},
		{"10s", nil, true},
		{"x-10s", nil, true},
		{"10s-y", nil, true},
		{"10s-20s,", nil, true},
	}
	for _, tc := range tests {
		got, err := ParseDownWindows(tc.spec)
		if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseDownWindows(%q) = %v, %v; want %v, error %v", tc.spec, got, err, tc.want, tc.wantErr)
		}
		if err == nil && tc.spec != "" {
			again, err := ParseDownWindows(FormatDownWindows(got))
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Errorf("round trip of %q gave %v, %v", tc.spec, again, err)
			}
		}
	}
}

func TestAdminFaults(t *testing.T) {
	s, ts := startServer(t, testConfig())
	tests := []struct {
		body   string
		status int
		want   Faults
	}{
		{`{"error_rate":0.25,"garbage_rate":0.5,"down":"1h-2h:close"}`, http.StatusOK,
			Faults{ErrorRate: 0.25, GarbageRate: 0.5, HangMax: 5 * time.Minute, Down: []DownWindow{{From: time.Hour, To: 2 * time.Hour, Close: true}}}},
		{`{"timeout_rate":0.1,"hang_max":"2s"}`, http.StatusOK, Faults{TimeoutRate: 0.1, HangMax: 2 * time.Second}},
		{`{"error_rate":0.7,"garbage_rate":0.7}`, http.StatusBadRequest, Faults{TimeoutRate: 0.1, HangMax: 2 * time.Second}},
		{`{"error_rate":-1}`, http.StatusBadRequest, Faults{TimeoutRate: 0.1, HangMax: 2 * time.Second}},
		{`{"eror_rate":0.1}`, http.StatusBadRequest, Faults{TimeoutRate: 0.1, HangMax: 2 * time.Second}},
		{`{"down":"soon"}`, http.StatusBadRequest, Faults{TimeoutRate: 0.1, HangMax: 2 * time.Second}},
		{`{}`, http.StatusOK, Faults{HangMax: 2 * time.Second}},
	}
	for _, tc := range tests {
		resp, err := http.Post(ts.URL+"/admin/faults", "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Fatalf("POST %s: %d %s, want %d", tc.body, resp.StatusCode, raw, tc.status)
		}
		if got := s.CurrentFaults(); !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("after POST %s: faults %+v, want %+v", tc.body, got, tc.want)
		}
	}
	resp, err := http.Get(ts.URL + "/admin/faults")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got Faults
	got.HangMax = time.Nanosecond
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || !reflect.DeepEqual(got, Faults{HangMax: 2 * time.Second}) {
		t.Fatalf("GET /admin/faults decoded to %+v, %v", got, err)
	}
}

func TestRefuseMediaAnswersAsTheRealServer(t *testing.T) {
	img, wav := plainJPEG(t, 224, 224, 1), makeWAV(t, 1, 16000, 1)
	imageOnly := chatOpts{requestID: "n/f/1/locate", text: locatePrompt, image: img}
	audioOnly := chatOpts{requestID: "n/f/1/audio", text: audioPrompt, audio: wav}
	both := chatOpts{requestID: "n/f/1/locate", text: locatePrompt, image: img, audio: wav}
	tests := []struct {
		refuse MediaRefusal
		req    chatOpts
		want   string // "" when answered
	}{
		{RefuseVLLMAudio, audioOnly, VLLMAudioMessage},
		{RefuseVLLMAudio, both, VLLMAudioMessage},
		{RefuseVLLMAudio, imageOnly, ""},
		{RefuseLlamaNoMMProj, imageOnly, LlamaImageMessage},
		{RefuseLlamaNoMMProj, audioOnly, LlamaAudioMessage},
		{RefuseLlamaNoMMProj, both, LlamaImageMessage},
		{RefuseNone, both, ""},
	}
	for _, tt := range tests {
		cfg := testConfig()
		cfg.Faults.RefuseMedia = tt.refuse
		s, ts := startServer(t, cfg)
		r := postRaw(t, ts.URL, tt.req.body(t), tt.req.requestID)
		var e errorBody
		switch {
		case tt.want == "" && r.status != http.StatusOK:
			t.Errorf("%s, %s: %d %s, want 200", tt.refuse, tt.req.requestID, r.status, r.raw)
		case tt.want != "" && (r.status != http.StatusInternalServerError || json.Unmarshal(r.raw, &e) != nil || e.Error.Message != tt.want):
			t.Errorf("%s, %s: %d %s, want 500 saying %q", tt.refuse, tt.req.requestID, r.status, r.raw, tt.want)
		case tt.want != "" && s.Stats().Faults.MediaRefused != 1:
			t.Errorf("%s: stats media_refused = %d, want 1", tt.refuse, s.Stats().Faults.MediaRefused)
		}
	}
	var f Faults
	if err := json.Unmarshal([]byte(`{"refuse_media":"sometimes"}`), &f); err != nil {
		t.Fatal(err)
	}
	if err := f.validate(); err == nil {
		t.Error("an unknown refuse_media validated")
	}
}

func TestPromptTokensDetailsReportedOrNull(t *testing.T) {
	for _, details := range []bool{true, false} {
		cfg := testConfig()
		cfg.PromptTokensDetails = details
		_, ts := startServer(t, cfg)
		req := chatOpts{requestID: "n/f/1/audio", text: audioPrompt, audio: makeWAV(t, 1, 16000, 1)}
		var body struct {
			Usage struct {
				Details *struct {
					Cached *int `json:"cached_tokens"`
				} `json:"prompt_tokens_details"`
			} `json:"usage"`
		}
		for range 2 { // the second is a cache hit
			r := postRaw(t, ts.URL, req.body(t), req.requestID)
			if err := json.Unmarshal(r.raw, &body); err != nil {
				t.Fatalf("%s: %v", r.raw, err)
			}
			if got := body.Usage.Details != nil && body.Usage.Details.Cached != nil; got != details {
				t.Errorf("--prompt-tokens-details=%v: usage %s", details, r.raw)
			}
		}
	}
}
