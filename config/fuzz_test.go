package config

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse. It must never panic, must
// report failures as Diagnostics, and whatever it accepts must survive
// String and Parse again unchanged as text.
func FuzzParse(f *testing.F) {
	for _, path := range exampleConfigs(f) {
		src, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	for _, seed := range []string{
		"",
		`node_id = "r"`,
		"gar {\n  model_size = 230\n}",
		"mllm {\n  endpoints = [\"http://a/v1\", null, 3]\n}",
		"stream \"s\" {\n  input = \"rtsp://u:p@h/1\"\n  options = { a = 1, b = true }\n  camera {\n    hfov_deg = 90\n  }\n}",
		"stream \"s\" {\n  input = \"x\"\n  window = \"${1}\"\n}",
		"mqtt {\n  tls {}\n  qos = 1e400\n}",
		"log = { level = upper(\"x\") }",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, err := Parse(src, "fuzz.hcl", SkipFileChecks())
		if err != nil {
			var diags Diagnostics
			if !errors.As(err, &diags) || len(diags) == 0 {
				t.Fatalf("Parse error is not a non-empty Diagnostics: %T %v", err, err)
			}
			return
		}
		text := cfg.String()
		again, err := Parse([]byte(text), "string.hcl", SkipFileChecks())
		if err != nil {
			t.Fatalf("Parse(String()) failed: %v\n%s", err, text)
		}
		if again.String() != text {
			t.Fatalf("String is not stable:\n%s\nthen:\n%s", text, again.String())
		}
	})
}
