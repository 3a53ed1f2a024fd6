package omnisim

import (
	"errors"
	"testing"
)

func TestDetectStage(t *testing.T) {
	tests := []struct {
		name      string
		requestID string
		schema    string
		text      string
		want      Stage
		source    int
		trial     int
		wantErr   bool
	}{
		{name: "id locate", requestID: "robot-7/front/42/locate", want: StageLocate},
		{name: "id audio", requestID: "robot-7/front/42/audio", want: StageAudio},
		{name: "id analysis with trial", requestID: "robot-7/front/42/analysis/t3", want: StageAnalysis, trial: 3},
		{name: "id analysis with source and trial", requestID: "n/s/1/analysis/s1/t4", want: StageAnalysis, source: 1, trial: 4},
		{name: "id of a retry", requestID: "n/s/1/analysis/s1/t4/a2", want: StageAnalysis, source: 1, trial: 4},
		{name: "id of a retry without trial", requestID: "n/s/1/refine/a3", want: StageRefine},
		{name: "id refine with source", requestID: "n/s/1/refine/s2", want: StageRefine, source: 2},
		{name: "id beats schema", requestID: "n/s/1/refine", schema: "garssl_locate", want: StageRefine},
		{name: "id beats text", requestID: "n/s/1/audio", text: refinePrompt, want: StageAudio},
		{name: "bad id falls back to schema", requestID: "n/s/1/whatever", schema: "garssl_analysis", want: StageAnalysis},
		{name: "trial twice is not a stage id", requestID: "n/s/1/analysis/t1/t2", schema: "garssl_audio", want: StageAudio},
		{name: "schema locate", schema: "garssl_locate", want: StageLocate},
		{name: "schema audio multi", schema: "garssl_audio_multi", want: StageAudio},
		{name: "schema refine beats text", schema: "garssl_refine", text: locatePrompt, want: StageRefine},
		{name: "unknown schema falls back to text", schema: "other_thing", text: audioPrompt, want: StageAudio},
		{name: "text locate", text: locatePrompt, want: StageLocate},
		{name: "text audio", text: audioPrompt, want: StageAudio},
		{name: "text analysis quotes previous bbox", text: analysisPrompt, want: StageAnalysis},
		{name: "text refine quotes analysis fields", text: refinePrompt + " av_consistency 0.4", want: StageRefine},
		{name: "text bounding box", text: "Give the Bounding Box of the dog", want: StageLocate},
		{name: "nothing", text: "hello there", wantErr: true},
		{name: "empty", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := detectStage(tc.requestID, tc.schema, tc.text)
			if tc.wantErr {
				if !errors.Is(err, errBadRequest) {
					t.Fatalf("err = %v, want a bad request", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("detectStage: %v", err)
			}
			if got.stage != tc.want || got.source != tc.source || got.trial != tc.trial {
				t.Fatalf("got stage %s source %d trial %d, want %s %d %d", got.stage, got.source, got.trial, tc.want, tc.source, tc.trial)
			}
		})
	}
}

func TestSourceCount(t *testing.T) {
	tests := []struct {
		name      string
		requestID string
		schema    string
		text      string
		defaultK  int
		want      int
	}{
		{name: "single schema wins over text", schema: "garssl_locate", text: "K=3", defaultK: 2, want: 1},
		{name: "multi schema reads K", schema: "garssl_locate_multi", text: "there are K = 3 sources", defaultK: 1, want: 3},
		{name: "multi schema reads exactly words", schema: "garssl_audio_multi", text: "find exactly two sound sources", defaultK: 1, want: 2},
		{name: "multi schema without number uses default", schema: "garssl_locate_multi", text: "find them", defaultK: 3, want: 3},
		{name: "multi schema never below two", schema: "garssl_locate_multi", text: "find them", defaultK: 1, want: 2},
		{name: "multi schema ignores K=1 in text", schema: "garssl_locate_multi", text: "K=1", defaultK: 1, want: 2},
		{name: "no schema text digits", requestID: "n/s/1/locate", text: "Locate exactly 2 sound-emitting objects", defaultK: 1, want: 2},
		{name: "gar multi prompt with three entries", schema: "garssl_locate_multi", text: "4. List exactly 3 entries, ordered from the most prominent sound", defaultK: 1, want: 3},
		{name: "no schema text one", text: locatePrompt, defaultK: 2, want: 1},
		{name: "no schema default", requestID: "n/s/1/audio", text: audioPrompt, defaultK: 2, want: 2},
		{name: "capped", schema: "garssl_locate_multi", text: "K=99", defaultK: 1, want: maxSources},
		{name: "analysis is per source", requestID: "n/s/1/analysis/s1", text: "K=2", defaultK: 2, want: 1},
		{name: "refine is per source", schema: "garssl_refine", text: "K=2", defaultK: 2, want: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := detectStage(tc.requestID, tc.schema, tc.text)
			if err != nil {
				t.Fatalf("detectStage: %v", err)
			}
			if got := sourceCount(d, tc.text, tc.defaultK); got != tc.want {
				t.Fatalf("K = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestStageOverHTTP(t *testing.T) {
	_, ts := startServer(t, testConfig())
	img, wav := plainJPEG(t, 224, 224, 1), makeWAV(t, 3, 16000, 1)
	tests := []struct {
		name string
		opts chatOpts
		want Stage
	}{
		{"header", chatOpts{requestID: "n/front/1/refine", text: "go", image: img, audio: wav}, StageRefine},
		{"schema", chatOpts{schema: "garssl_analysis", text: "go", image: img, audio: wav}, StageAnalysis},
		{"keywords", chatOpts{text: audioPrompt, audio: wav}, StageAudio},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := post(t, ts.URL, tc.opts)
			if got := r.header.Get("X-Omnisim-Stage"); got != string(tc.want) {
				t.Fatalf("X-Omnisim-Stage = %q, want %q", got, tc.want)
			}
		})
	}
}
