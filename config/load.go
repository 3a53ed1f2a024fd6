package config

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Option adjusts how a config is loaded.
type Option func(*meta)

// SkipFileChecks turns off the checks against the file system: that
// referenced files (api_key_file, password_file, tls files, local stream
// inputs) exist and are readable, and that an existing mqtt.store_dir is a
// directory. Use it to check a config on a machine other than the robot,
// and in tests.
func SkipFileChecks() Option { return func(m *meta) { m.skipFileChecks = true } }

// meta is what a Config remembers about where it came from.
type meta struct {
	// origin maps config paths ("gar.model_size", "mllm.endpoints[1]",
	// "stream.front") to the range of the value or block that set them; the
	// empty path maps to the start of the file.
	origin         map[string]hcl.Range
	skipFileChecks bool
}

// rangeOf returns the range recorded for path or, failing that, for the
// nearest enclosing path, so that a bad default inside a block points at
// the block.
func (m *meta) rangeOf(path string) (hcl.Range, bool) {
	if m == nil {
		return hcl.Range{}, false
	}
	for {
		if r, ok := m.origin[path]; ok {
			return r, true
		}
		if path == "" {
			return hcl.Range{}, false
		}
		path = parentPath(path)
	}
}

func (m *meta) skipsFileChecks() bool { return m != nil && m.skipFileChecks }

func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// LoadFile reads and validates the config file at path. It validates
// everything except that streams exist, which only `run` needs; call
// ValidateForRun for that. An invalid file yields a Diagnostics error.
func LoadFile(path string, opts ...Option) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(src, path, opts...)
}

// Parse decodes and validates a config held in memory; filename is used
// in diagnostics only. It validates like LoadFile.
func Parse(src []byte, filename string, opts ...Option) (*Config, error) {
	m := &meta{origin: make(map[string]hcl.Range)}
	for _, opt := range opts {
		opt(m)
	}
	if bytes.IndexByte(src, 0) >= 0 || !utf8.Valid(src) {
		// A video or an archive given by mistake: HCL would report every
		// stray byte, millions of lines for a clip.
		return nil, Diagnostics{{Filename: filename, Message: "not a text file; give an HCL config such as configs/garssld.hcl"}}
	}

	file, hd := hclparse.NewParser().ParseHCL(src, filename)
	if hd.HasErrors() {
		// The tree after a syntax error is partial; checking it would
		// mostly report the syntax error again.
		return nil, fromHCL(hd).errOrNil()
	}
	body, ok := file.Body.(*hclsyntax.Body)
	if !ok {
		return nil, fmt.Errorf("config %s: parser returned %T, want a native-syntax body", filename, file.Body)
	}
	m.origin[""] = hcl.Range{Filename: filename, Start: body.SrcRange.Start, End: body.SrcRange.Start}

	c := Default()
	c.meta = m
	d := &decoder{origin: m.origin, streams: make(map[string]hcl.Range), skipFileChecks: m.skipFileChecks}
	d.decodeRoot(body, &c)
	if _, set := m.origin["mqtt.client_id"]; !set {
		// The file may have changed node_id since Default derived it.
		c.MQTT.ClientID = defaultClientID(c.NodeID)
	}
	if b := &c.MLLM.Breaker; !c.IsSet("mllm.breaker.open_min") && b.OpenFor > 0 && b.OpenMin > b.OpenFor {
		// A file that shortens open_for below the default start keeps a
		// fixed open time, as before open_min existed.
		b.OpenMin = b.OpenFor
	}
	c.normalize()

	diags := append(d.diags, c.validate(false)...)
	if err := diags.errOrNil(); err != nil {
		return nil, err
	}
	return &c, nil
}

// normalize canonicalises spellings after decoding or overriding.
func (c *Config) normalize() {
	for i, e := range c.MLLM.Endpoints {
		c.MLLM.Endpoints[i] = trimEndpoint(e)
	}
}

// trimEndpoint drops trailing slashes so that "{endpoint}/chat/completions"
// has no empty path segment; it leaves anything it cannot parse alone for
// validation to report.
func trimEndpoint(e string) string {
	scheme := strings.Index(e, "://")
	if scheme < 0 {
		return e
	}
	trimmed := strings.TrimRight(e, "/")
	if len(trimmed) <= scheme+3 {
		return e
	}
	return trimmed
}

// Validate checks everything except that streams exist, like LoadFile. It
// is for configs built or changed in code. File checks follow the options
// the config was loaded with.
func (c *Config) Validate() error { return c.validate(false).errOrNil() }

// ValidateForRun is Validate plus the requirement of `run` that at least
// one stream is configured.
func (c *Config) ValidateForRun() error { return c.validate(true).errOrNil() }
