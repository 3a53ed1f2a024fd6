package config

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

func exampleConfigs(t testing.TB) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(repoRoot, "configs", "*.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 2 {
		t.Fatalf("found %d example configs in ../configs, want garssld.hcl and demo.hcl", len(paths))
	}
	return paths
}

// TestExampleConfigsValidate loads every shipped config. The production
// example names files under /etc/garssl, which exist only on a robot, so
// file checks are skipped.
func TestExampleConfigsValidate(t *testing.T) {
	for _, path := range exampleConfigs(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cfg, err := LoadFile(path, SkipFileChecks())
			if err != nil {
				t.Fatalf("LoadFile:\n%v", err)
			}
			if err := cfg.ValidateForRun(); err != nil {
				t.Errorf("ValidateForRun:\n%v", err)
			}
		})
	}
}

// TestProductionExampleSetsEveryField keeps garssld.hcl complete: every
// attribute that String writes for it must be written in the file too.
func TestProductionExampleSetsEveryField(t *testing.T) {
	cfg, err := LoadFile(filepath.Join(repoRoot, "configs", "garssld.hcl"), SkipFileChecks())
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	if cfg.MQTT.TLS == nil || len(cfg.Streams) == 0 || cfg.Streams[0].Camera == nil {
		t.Fatalf("garssld.hcl should show the optional tls and camera blocks")
	}
	inFile := attributePaths(t, readFile(t, filepath.Join(repoRoot, "configs", "garssld.hcl")))
	for _, p := range attributePaths(t, []byte(cfg.String())) {
		if !slices.Contains(inFile, p) {
			t.Errorf("garssld.hcl does not show %s", p)
		}
	}
}

func TestDemoExample(t *testing.T) {
	// The demo names the bundled sample relative to the repository, where
	// its instructions run garssld.
	t.Chdir(repoRoot)
	cfg, err := LoadFile("configs/demo.hcl")
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	if len(cfg.Streams) != 1 || !cfg.Streams[0].Loop || !cfg.Streams[0].Realtime || !isFileInput(cfg.Streams[0].Input) {
		t.Errorf("demo.hcl should have one file stream looped at its own rate, got %+v", cfg.Streams)
	}
	if !slices.Equal(cfg.MLLM.Endpoints, []string{"http://127.0.0.1:8000/v1"}) {
		t.Errorf("demo endpoints = %q", cfg.MLLM.Endpoints)
	}
	if cfg.MQTT.Broker != "tcp://127.0.0.1:1883" || !strings.HasPrefix(cfg.MQTT.StoreDir, "/tmp/") {
		t.Errorf("demo mqtt = %+v", cfg.MQTT)
	}
}

// TestStringRoundTrip parses what String writes and expects the same
// config back.
func TestStringRoundTrip(t *testing.T) {
	for _, path := range exampleConfigs(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cfg, err := LoadFile(path, SkipFileChecks())
			if err != nil {
				t.Fatalf("LoadFile: %v", err)
			}
			again, err := Parse([]byte(cfg.String()), "string.hcl", SkipFileChecks())
			if err != nil {
				t.Fatalf("Parse(String()):\n%v\n%s", err, cfg)
			}
			if !reflect.DeepEqual(withoutMeta(*again), withoutMeta(*cfg)) {
				t.Errorf("round trip changed the config:\n%s\nwant:\n%s", again, cfg)
			}
		})
	}
}

// attributePaths lists "block.block.attr" for every attribute in src,
// with stream labels left out so that streams compare by field.
func attributePaths(t *testing.T, src []byte) []string {
	t.Helper()
	f, diags := hclsyntax.ParseConfig(src, "x.hcl", hclPosStart)
	if diags.HasErrors() {
		t.Fatalf("parse: %v", diags)
	}
	var paths []string
	var walk func(prefix string, b *hclsyntax.Body)
	walk = func(prefix string, b *hclsyntax.Body) {
		for name := range b.Attributes {
			paths = append(paths, prefix+name)
		}
		for _, blk := range b.Blocks {
			walk(prefix+blk.Type+".", blk.Body)
		}
	}
	walk("", f.Body.(*hclsyntax.Body))
	return paths
}
