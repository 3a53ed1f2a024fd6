package config

import "testing"

func TestIsSet(t *testing.T) {
	c, err := Parse([]byte("gar {\n  tau_av = 0.6\n}\nmllm {\n  model = \"m\"\n}\n"), "t.hcl", SkipFileChecks())
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{
		"gar.tau_av": true, "mllm.model": true, "gar.tau_audio": false, "mllm.max_in_flight": false, "gar": true,
	} {
		if got := c.IsSet(path); got != want {
			t.Errorf("IsSet(%q) = %v, want %v", path, got, want)
		}
	}
	if err := c.Override(Overrides{MaxSources: 2}); err != nil {
		t.Fatal(err)
	}
	if !c.IsSet("gar.max_sources") {
		t.Error("a flag override should count as set")
	}
	d := Default()
	if d.IsSet("gar.tau_av") {
		t.Error("defaults are not set by anyone")
	}
}
