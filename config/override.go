package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Overrides are command-line values that replace those of the file. The
// zero value of each field means "keep the file's value"; none of these
// settings has a valid zero value, so nothing is lost by that.
type Overrides struct {
	Endpoints  []string      // --endpoint (repeatable): replaces mllm.endpoints
	Model      string        // --model: mllm.model
	ModelSize  int           // --model-size: gar.model_size
	MaxSources int           // --max-sources: gar.max_sources
	LogLevel   string        // --log-level: log.level
	LogFormat  LogFormat     // --log-format: log.format
	Window     time.Duration // --window: window of every stream
	Hop        time.Duration // --hop: hop of every stream
}

// Override applies o and validates the result like Validate. Diagnostics
// about overridden values name the flag instead of a file position. On
// error c is left unchanged.
func (c *Config) Override(o Overrides) error {
	next := c.clone()
	if next.meta == nil {
		next.meta = &meta{}
	}
	if next.meta.origin == nil {
		next.meta.origin = make(map[string]hcl.Range)
	}
	set := func(path, flag string) { next.meta.origin[path] = hcl.Range{Filename: flag} }

	if o.Endpoints != nil {
		next.MLLM.Endpoints = slices.Clone(o.Endpoints)
		maps.DeleteFunc(next.meta.origin, func(path string, _ hcl.Range) bool {
			return strings.HasPrefix(path, "mllm.endpoints[")
		})
		set("mllm.endpoints", "--endpoint")
		for i := range o.Endpoints {
			set(fmt.Sprintf("mllm.endpoints[%d]", i), "--endpoint")
		}
	}
	if o.Model != "" {
		next.MLLM.Model = o.Model
		set("mllm.model", "--model")
	}
	if o.ModelSize != 0 {
		next.GAR.ModelSize = o.ModelSize
		set("gar.model_size", "--model-size")
	}
	if o.MaxSources != 0 {
		next.GAR.MaxSources = o.MaxSources
		set("gar.max_sources", "--max-sources")
	}
	if o.LogLevel != "" {
		next.Log.Level = o.LogLevel
		set("log.level", "--log-level")
	}
	if o.LogFormat != "" {
		next.Log.Format = o.LogFormat
		set("log.format", "--log-format")
	}
	for i := range next.Streams {
		p := streamPath(next.Streams[i].Name)
		if o.Window != 0 {
			next.Streams[i].Window = o.Window
			set(p+".window", "--window")
		}
		if o.Hop != 0 {
			next.Streams[i].Hop = o.Hop
			set(p+".hop", "--hop")
		}
	}

	next.normalize()
	if err := next.Validate(); err != nil {
		return err
	}
	*c = next
	return nil
}

// clone copies c deeply enough that changing the copy never changes c.
func (c *Config) clone() Config {
	n := *c
	n.MLLM.Endpoints = slices.Clone(c.MLLM.Endpoints)
	if c.MQTT.TLS != nil {
		t := *c.MQTT.TLS
		n.MQTT.TLS = &t
	}
	n.Streams = slices.Clone(c.Streams)
	for i, s := range n.Streams {
		n.Streams[i].Options = maps.Clone(s.Options)
		n.Streams[i].AudioOptions = maps.Clone(s.AudioOptions)
		if s.Camera != nil {
			cam := *s.Camera
			n.Streams[i].Camera = &cam
		}
		if s.MicArray != nil {
			m := *s.MicArray
			m.Positions = slices.Clone(m.Positions)
			m.Channels = slices.Clone(m.Channels)
			n.Streams[i].MicArray = &m
		}
	}
	if c.meta != nil {
		m := *c.meta
		m.origin = maps.Clone(c.meta.origin)
		n.meta = &m
	}
	return n
}
