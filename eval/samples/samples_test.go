package samples

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/internal/schematest"
)

func okLine(id string) Line {
	d := gar.NewDetection(gar.WindowMeta{
		Node: "n", RunID: "r", Stream: "eval", Seq: 1, Start: time.Unix(0, 0).UTC(), End: time.Unix(3, 0).UTC(),
		FrameWidth: 640, FrameHeight: 360, ModelWidth: 224, ModelHeight: 224, RMSDBFS: -20,
	}, gar.Result{Status: gar.StatusOK, Sources: []gar.SourceResult{{
		BBox: gar.Box{64, 72, 319, 215}, BBoxNorm: [4]float64{0.1, 0.2, 0.5, 0.6}, BBoxModel: gar.Box{22, 45, 111, 133},
		Label: "dog", Refined: true,
	}}, GAR: gar.GARInfo{AnalysisTrials: 5, Requests: 4}, Tokens: gar.TokenUsage{Prompt: 1000, Completion: 200},
		Latency: gar.LatencyMS{Total: 1500}})
	return Line{Sample: id, Detection: d, Metrics: Metrics{
		GAR: Scores{CIoU: []float64{0.9}, AP: []float64{0.8}}, Standard: Scores{CIoU: []float64{0.85}, AP: []float64{0.75}}}}
}

func failedLine(id string) Line {
	d := gar.NewDetection(gar.WindowMeta{Node: "n", RunID: "r", Stream: "eval", Seq: 2}, gar.Result{Status: StatusInputError})
	return Line{Sample: id, Detection: d, Failure: &Failure{Reason: ReasonMissingInput, Error: "no frames/x.jpg"},
		Metrics: Metrics{GAR: Scores{CIoU: []float64{0}, AP: []float64{0.01}}, Standard: Scores{CIoU: []float64{0}, AP: []float64{0.01}}}}
}

func marshal(t testing.TB, l Line) []byte {
	t.Helper()
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func compile(t *testing.T) *jsonschema.Schema {
	t.Helper()
	raw, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	return schematest.Compile(t, raw)
}

func validate(sch *jsonschema.Schema, b []byte) error { return schematest.Validate(sch, b) }

func TestSchemaIncludesV1(t *testing.T) {
	raw, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	var merged, v1 struct {
		Properties map[string]any    `json:"properties"`
		Required   []string          `json:"required"`
		AllOf      []json.RawMessage `json:"allOf"`
	}
	if err := json.Unmarshal(raw, &merged); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(gar.DetectionSchema, &v1); err != nil {
		t.Fatal(err)
	}
	for name, def := range v1.Properties {
		if name != "status" && !reflect.DeepEqual(merged.Properties[name], def) {
			t.Errorf("property %q differs from payload v1", name)
		}
	}
	for _, r := range append(v1.Required, "sample", "metrics") {
		if !strings.Contains(strings.Join(merged.Required, ","), r) {
			t.Errorf("%q is not required", r)
		}
	}
	enum := merged.Properties["status"].(map[string]any)["enum"].([]any)
	if !reflect.DeepEqual(enum[:len(enum)-1], v1.Properties["status"].(map[string]any)["enum"]) || enum[len(enum)-1] != string(StatusInputError) {
		t.Errorf("status enum %v: want v1's plus input_error", enum)
	}
	if len(merged.AllOf) != len(v1.AllOf)+2 {
		t.Errorf("allOf has %d conditions, want v1's %d plus 2", len(merged.AllOf), len(v1.AllOf))
	}
}

func TestSchemaValidatesLines(t *testing.T) {
	sch := compile(t)
	good := okLine("a")
	if err := validate(sch, marshal(t, good)); err != nil {
		t.Errorf("ok line: %v", err)
	}
	if err := validate(sch, marshal(t, failedLine("b"))); err != nil {
		t.Errorf("input_error line: %v", err)
	}
	mutate := func(l Line, edit func(map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(marshal(t, l), &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		b, _ := json.Marshal(m)
		return b
	}
	bad := map[string][]byte{
		"no sample":               mutate(good, func(m map[string]any) { delete(m, "sample") }),
		"no metrics":              mutate(good, func(m map[string]any) { delete(m, "metrics") }),
		"ok with a failure":       mutate(good, func(m map[string]any) { m["failure"] = map[string]any{"reason": "x", "error": ""} }),
		"failed without failure":  mutate(failedLine("b"), func(m map[string]any) { delete(m, "failure") }),
		"unknown member":          mutate(good, func(m map[string]any) { m["extra"] = 1 }),
		"v1 rule: ok needs boxes": mutate(good, func(m map[string]any) { m["sources"] = []any{} }),
		"unknown status":          mutate(good, func(m map[string]any) { m["status"] = "lost" }),
		"cIoU above 1":            mutate(good, func(m map[string]any) { m["metrics"].(map[string]any)["gar"].(map[string]any)["ciou"] = []any{1.5} }),
	}
	for name, b := range bad {
		if validate(sch, b) == nil {
			t.Errorf("%s: the schema accepts %s", name, b)
		}
	}
	// The sample id comes first, for people reading the file.
	if !bytes.HasPrefix(marshal(t, good), []byte(`{"sample":"a","schema":"garssl.detection/v1"`)) {
		t.Errorf("line starts %s", marshal(t, good)[:60])
	}
}

func TestReadRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	for _, l := range []Line{okLine("a"), failedLine("b")} {
		buf.Write(marshal(t, l))
		buf.WriteByte('\n')
	}
	f, err := Read(&buf, "s.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Records) != 2 || f.Tail != nil || f.MissingNewline {
		t.Fatalf("read %+v", f)
	}
	p := f.Records[0].Pred
	if p.Sample != "a" || !p.OK() || p.Frame.Width != 640 || p.Sources[0].BBox != [4]float64{64, 72, 319, 215} ||
		p.Sources[0].BBoxNorm != [4]float64{0.1, 0.2, 0.5, 0.6} || !p.Sources[0].Refined || p.GAR.Requests != 4 ||
		p.Tokens.Prompt != 1000 || p.LatencyMS.Total != 1500 {
		t.Errorf("prediction read as %+v", p)
	}
	q := f.Records[1].Pred
	if q.OK() || q.Reason() != ReasonMissingInput || f.Records[1].Line != 2 {
		t.Errorf("failed sample read as %+v (line %d)", q, f.Records[1].Line)
	}
}

func TestReadDamage(t *testing.T) {
	a, b := string(marshal(t, okLine("a"))), string(marshal(t, okLine("b")))
	tests := []struct {
		name        string
		data        string
		records     int
		tail        bool
		missingNL   bool
		end         int
		errContains []string
	}{
		{"half-written last line", a + "\n" + b[:40], 1, true, false, len(a) + 1, nil},
		{"complete last line without newline", a + "\n" + b, 2, false, true, len(a) + 1 + len(b), nil},
		{"blank lines are skipped", a + "\n\n  \n" + b + "\n", 2, false, false, len(a) + 4 + 1 + len(b) + 1, nil},
		{"damaged line in the middle", a[:50] + "\n" + b + "\n", 0, false, false, 0, []string{"s.jsonl line 1"}},
		{"damaged complete last line", a + "\n" + b[:40] + "\n", 0, false, false, 0, []string{"line 2"}},
		{"duplicate sample", a + "\n" + a + "\n", 0, false, false, 0, []string{"lines 1 and 2", `"a"`}},
		{"no sample id", `{"status":"ok"}` + "\n", 0, false, false, 0, []string{`no "sample"`}},
		{"ok without boxes", `{"sample":"x","status":"ok","frame":{"width":10,"height":10},"sources":[]}` + "\n", 0, false, false, 0, []string{`"x"`, "no sources"}},
		{"ok without frame size", `{"sample":"x","status":"ok","sources":[{"bbox":[0,0,1,1]}]}` + "\n", 0, false, false, 0, []string{"frame size 0x0"}},
		{"box of strings", `{"sample":"x","status":"ok","frame":{"width":10,"height":10},"sources":[{"bbox":["0",0,1,1]}]}` + "\n", 0, false, false, 0, []string{"line 1"}},
		{"empty file", "", 0, false, false, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Read(strings.NewReader(tt.data), "s.jsonl")
			if tt.errContains != nil {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tt.errContains {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Records) != tt.records || (f.Tail != nil) != tt.tail || f.MissingNewline != tt.missingNL || f.End != int64(tt.end) {
				t.Errorf("records %d, tail %v, missing newline %v, end %d; want %d, %v, %v, %d",
					len(f.Records), f.Tail, f.MissingNewline, f.End, tt.records, tt.tail, tt.missingNL, tt.end)
			}
		})
	}
}

func TestOpenResumes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "samples.jsonl")
	a, b := marshal(t, okLine("a")), marshal(t, okLine("b"))
	// A killed run left "a" whole and half of "b".
	if err := os.WriteFile(path, append(append(a, '\n'), b[:30]...), 0o644); err != nil {
		t.Fatal(err)
	}
	w, f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Records) != 1 || f.Tail == nil || f.Tail.Line != 2 {
		t.Fatalf("Open read %+v", f)
	}
	if data, _ := os.ReadFile(path); !bytes.Equal(data, append(a, '\n')) {
		t.Fatalf("Open left %q after the last whole line", data[len(a)+1:])
	}
	if err := w.Append(okLine("b")); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(failedLine("c")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(okLine("d")); err == nil {
		t.Error("Append after Close should fail")
	}
	data, _ := os.ReadFile(path)
	again, err := Read(bytes.NewReader(data), path)
	if err != nil || len(again.Records) != 3 || again.Tail != nil {
		t.Fatalf("after resuming: %+v, %v\n%s", again, err, data)
	}
	// A complete last line without newline is kept and completed.
	if err := os.WriteFile(path, append(append(a, '\n'), b...), 0o644); err != nil {
		t.Fatal(err)
	}
	w, f, err = Open(path)
	if err != nil || len(f.Records) != 2 || !f.MissingNewline {
		t.Fatalf("Open: %+v, %v", f, err)
	}
	if err := w.Append(failedLine("c")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	data, _ = os.ReadFile(path)
	if again, err := Read(bytes.NewReader(data), path); err != nil || len(again.Records) != 3 {
		t.Fatalf("after completing the newline: %v\n%s", err, data)
	}
	// Rewrite keeps only what it is told to.
	if err := Rewrite(path, again.Records, func(r Record) bool { return r.Pred.OK() }); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(path)
	if kept, err := Read(bytes.NewReader(data), path); err != nil || len(kept.Records) != 2 {
		t.Fatalf("after Rewrite: %v\n%s", err, data)
	}
	// A damaged middle line is not repaired silently.
	if err := os.WriteFile(path, append(append(a[:20], '\n'), b...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(path); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("Open of a damaged file: %v", err)
	}
}

func FuzzRead(f *testing.F) {
	a, b := marshal(f, okLine("a")), marshal(f, failedLine("b"))
	f.Add(append(append(a, '\n'), b...))
	f.Add(append(append(a, '\n'), b[:len(b)/2]...))
	f.Add([]byte(`{"sample":"x","status":"ok","frame":{"width":1,"height":1},"sources":[{"bbox":[0,0,0,0],"bbox_norm":[0,0,1,1]}]}` + "\n\n"))
	f.Add([]byte("\n\r\n{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Read(bytes.NewReader(data), "fuzz.jsonl")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.jsonl") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if file.End > int64(len(data)) {
			t.Fatalf("End %d beyond %d bytes", file.End, len(data))
		}
		if file.Tail != nil && file.Tail.Offset != file.End {
			t.Fatalf("tail at %d, End %d", file.Tail.Offset, file.End)
		}
		// What Open would keep reads back to the same records, with no tail.
		again, err := Read(bytes.NewReader(data[:file.End]), "fuzz.jsonl")
		if err != nil || again.Tail != nil || len(again.Records) != len(file.Records) {
			t.Fatalf("the kept prefix reads differently: %+v, %v", again, err)
		}
		for i, r := range file.Records {
			if r.Pred.Sample == "" || r.Pred.Status == "" {
				t.Fatalf("record %d without sample or status", i)
			}
			if !bytes.Equal(data[r.Offset:r.Offset+int64(len(r.Raw))], r.Raw) {
				t.Fatalf("record %d offset does not point at its bytes", i)
			}
		}
	})
}

func TestPredictionOfMatchesRead(t *testing.T) {
	for _, l := range []Line{okLine("a"), failedLine("b")} {
		f, err := Read(bytes.NewReader(append(marshal(t, l), '\n')), "x")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := PredictionOf(l), f.Records[0].Pred; !reflect.DeepEqual(got, want) {
			t.Errorf("PredictionOf = %+v\nRead gives   %+v", got, want)
		}
	}
}

// Differences names every setting that changed, and only those; the
// endpoints are a set.
func TestSettingsDifferences(t *testing.T) {
	was := Settings{Model: "m", Endpoints: []string{"http://a/v1", "http://b/v1"}, TauAV: 0.5, TauAudio: 0.75, AnalysisTrials: 5,
		ModelSize: 224, MaxSources: 1, Temperature: 0.4, TopP: 0.9, Schedule: "parallel", StructuredOutput: true, Inputs: "frames"}
	same := was
	same.Endpoints = []string{"http://b/v1", "http://a/v1"}
	if d := same.Differences(was); len(d) != 0 {
		t.Errorf("the same settings, endpoints reordered: %v", d)
	}
	now := Settings{Model: "n", Endpoints: []string{"http://a/v1"}, TauAV: 0.3, TauAudio: 0.5, AnalysisTrials: 3,
		ModelSize: 448, MaxSources: 2, Temperature: 0.7, TopP: 1, Schedule: "sequential", SupportsN: true, Inputs: "videos"}
	want := []string{`model "m" → "n"`, `endpoints ["http://a/v1" "http://b/v1"] → ["http://a/v1"]`, "tau_av 0.5 → 0.3",
		"tau_audio 0.75 → 0.5", "analysis_trials 5 → 3", "model_size 224 → 448", "max_sources 1 → 2", "temperature 0.4 → 0.7",
		"top_p 0.9 → 1", `schedule "parallel" → "sequential"`, "supports_n false → true", "structured_output true → false",
		`inputs "frames" → "videos"`}
	if got := now.Differences(was); !slices.Equal(got, want) {
		t.Errorf("Differences:\n got %q\nwant %q", got, want)
	}
}
