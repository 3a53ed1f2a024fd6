package mllm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNewRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	keyFile := func(name, contents string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(contents), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ok := Config{Endpoints: []string{"http://127.0.0.1:8000/v1"}, Model: "m"}
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"no endpoints", func(c *Config) { c.Endpoints = nil }},
		{"no model", func(c *Config) { c.Model = " " }},
		{"ftp scheme", func(c *Config) { c.Endpoints = []string{"ftp://127.0.0.1/v1"} }},
		{"no host", func(c *Config) { c.Endpoints = []string{"http:///v1"} }},
		{"query", func(c *Config) { c.Endpoints = []string{"http://127.0.0.1:8000/v1?x=1"} }},
		{"unparseable", func(c *Config) { c.Endpoints = []string{"http://user:hunter2@[::1/v1"} }},
		{"duplicate", func(c *Config) {
			c.Endpoints = []string{"http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1/"}
		}},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }},
		{"negative max in flight", func(c *Config) { c.MaxInFlight = -1 }},
		{"negative open_for", func(c *Config) { c.Breaker.OpenFor = -time.Second }},
		{"missing key file", func(c *Config) { c.APIKeyFile = filepath.Join(dir, "absent") }},
		{"empty key file", func(c *Config) { c.APIKeyFile = keyFile("empty", " \n") }},
		{"key with inner space", func(c *Config) { c.APIKeyFile = keyFile("spaced", "sk-hunter2 more\n") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			_, err := New(cfg, nil, nil)
			if err == nil {
				t.Fatal("New accepted the config")
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
}

func TestNewAppliesDefaults(t *testing.T) {
	c, err := New(Config{Endpoints: []string{"http://127.0.0.1:8000/v1/"}, Model: "m"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := EndpointState{Endpoint: "http://127.0.0.1:8000/v1", Breaker: BreakerClosed, MaxInFlight: 8}
	if got := c.States(); len(got) != 1 || got[0] != want {
		t.Errorf("States() = %+v, want [%+v]", got, want)
	}
	if c.cfg.Timeout != 20*time.Second || c.cfg.Breaker.ConsecutiveFailures != 5 || c.cfg.Breaker.OpenFor != 30*time.Second {
		t.Errorf("defaults not applied: %+v", c.cfg)
	}
}
