package config

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"
)

const overrideBase = `mllm {
  endpoints = ["http://a:8000/v1"]
}
stream "front" {
  input = "a.mp4"
}
stream "rear" {
  input = "b.mp4"
  hop = "1s"
}
`

func TestOverrideApplies(t *testing.T) {
	inFixture(t)
	cfg, err := Parse([]byte(overrideBase), "garssl.hcl")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	before := withoutMeta(cfg.clone())
	err = cfg.Override(Overrides{
		Endpoints:  []string{"http://b:8000/v1/", "http://c:8000/v1"},
		Model:      "Qwen/Qwen2.5-Omni-3B",
		ModelSize:  448,
		MaxSources: 2,
		LogLevel:   "debug",
		LogFormat:  LogFormatText,
		Window:     2 * time.Second,
		Hop:        500 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("Override: %v", err)
	}
	want := before
	want.MLLM.Endpoints = []string{"http://b:8000/v1", "http://c:8000/v1"}
	want.MLLM.Model = "Qwen/Qwen2.5-Omni-3B"
	want.GAR.ModelSize = 448
	want.GAR.MaxSources = 2
	want.Log = Log{Level: "debug", Format: LogFormatText}
	for i := range want.Streams {
		want.Streams[i].Window, want.Streams[i].Hop = 2*time.Second, 500*time.Millisecond
	}
	if got := withoutMeta(*cfg); !reflect.DeepEqual(got, want) {
		t.Errorf("after Override:\n%s\nwant:\n%s", got, want)
	}
}

func TestOverrideZeroKeepsEverything(t *testing.T) {
	inFixture(t)
	cfg, err := Parse([]byte(overrideBase), "garssl.hcl")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	before := withoutMeta(cfg.clone())
	if err := cfg.Override(Overrides{}); err != nil {
		t.Fatalf("Override: %v", err)
	}
	if got := withoutMeta(*cfg); !reflect.DeepEqual(got, before) {
		t.Errorf("empty Overrides changed the config:\n%s\nwant:\n%s", got, before)
	}
}

func TestOverrideRejectsAndNamesTheFlag(t *testing.T) {
	inFixture(t)
	tests := []struct {
		name string
		o    Overrides
		want []string
	}{
		{
			name: "model size",
			o:    Overrides{ModelSize: 230},
			want: []string{"--model-size = 230 is not a multiple of 28; use 224, 252, 280, …"},
		},
		{
			name: "second endpoint",
			o:    Overrides{Endpoints: []string{"http://ok/v1", "ftp://x"}},
			want: []string{`--endpoint "ftp://x" is not an http(s) URL`},
		},
		{
			name: "empty endpoint list",
			o:    Overrides{Endpoints: []string{}},
			want: []string{`--endpoint is empty; give at least one, e.g. ["http://127.0.0.1:8000/v1"]`},
		},
		{
			// Once, although it is wrong for both streams.
			name: "window for every stream",
			o:    Overrides{Window: 31 * time.Second},
			want: []string{"--window = 31s is too long; use at most 30s"},
		},
		{
			name: "several flags at once",
			o:    Overrides{MaxSources: 9, LogLevel: "loud", Hop: time.Millisecond / 100},
			want: []string{
				`--log-level "loud" is not one of "trace", "debug", "info", "warn", "error"`,
				`--max-sources = 9 is out of range; use 1 to 4`,
				`--hop = 10µs is not a whole number of 16 kHz samples; use a multiple of 62.5µs, e.g. 62.5µs`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(overrideBase), "garssl.hcl")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			before := withoutMeta(cfg.clone())
			err = cfg.Override(tt.o)
			var diags Diagnostics
			if !errors.As(err, &diags) {
				t.Fatalf("Override = %v, want Diagnostics", err)
			}
			if got := diags.Lines(); !slices.Equal(got, tt.want) {
				t.Errorf("diagnostics:\n got  %q\n want %q", got, tt.want)
			}
			if got := withoutMeta(*cfg); !reflect.DeepEqual(got, before) {
				t.Errorf("a failed Override changed the config:\n%s", got)
			}
		})
	}
}

// TestOverrideKeepsFilePositions checks that a later file-level problem is
// still reported at its place in the file after an override.
func TestOverrideKeepsFilePositions(t *testing.T) {
	inFixture(t)
	cfg, err := Parse([]byte(overrideBase), "garssl.hcl")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if err := cfg.Override(Overrides{Model: "m"}); err != nil {
		t.Fatalf("Override: %v", err)
	}
	cfg.Streams[1].Hop = 0 // as a caller editing the config in code might
	want := "garssl.hcl:9:9: stream.rear.hop = 0s must be greater than 0"
	if err := cfg.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate = %v, want %q", err, want)
	}
}

func TestOverrideOnDefault(t *testing.T) {
	cfg := Default()
	if err := cfg.Override(Overrides{Endpoints: []string{"http://gpu:8000/v1"}, ModelSize: 336}); err != nil {
		t.Fatalf("Override: %v", err)
	}
	if !slices.Equal(cfg.MLLM.Endpoints, []string{"http://gpu:8000/v1"}) || cfg.GAR.ModelSize != 336 {
		t.Errorf("Override on Default gave endpoints %q, model size %d", cfg.MLLM.Endpoints, cfg.GAR.ModelSize)
	}
}

func TestOverrideDoesNotAliasTheCaller(t *testing.T) {
	inFixture(t)
	cfg, err := Parse([]byte(overrideBase), "garssl.hcl")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	snapshot := *cfg // shares slices with cfg until Override replaces them
	flags := []string{"http://b:8000/v1"}
	if err := cfg.Override(Overrides{Endpoints: flags, Window: time.Second}); err != nil {
		t.Fatalf("Override: %v", err)
	}
	flags[0] = "http://changed/v1"
	if got := snapshot.MLLM.Endpoints[0]; got != "http://a:8000/v1" {
		t.Errorf("Override wrote through to an earlier copy: %q", got)
	}
	if got := snapshot.Streams[0].Window; got != 3*time.Second {
		t.Errorf("Override wrote through to an earlier copy's streams: %s", got)
	}
	if got := cfg.MLLM.Endpoints[0]; got != "http://b:8000/v1" {
		t.Errorf("Override kept the caller's slice: %q", got)
	}
}
