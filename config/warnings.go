package config

// Warnings are what `check` reports about a valid configuration that will
// not behave as its values suggest. They never stop a load; call it on a
// config that validated.
func (c *Config) Warnings() Diagnostics {
	v := &validator{meta: c.meta}
	// One warning, against the stream with the shortest stale_after: the
	// same fix serves all.
	shortest := -1
	for i, s := range c.Streams {
		if c.MLLM.Timeout >= s.StaleAfter && (shortest < 0 || s.StaleAfter < c.Streams[shortest].StaleAfter) {
			shortest = i
		}
	}
	if shortest >= 0 {
		s := c.Streams[shortest]
		staleAfter := streamPath(s.Name) + ".stale_after"
		// Placed at mllm.timeout when the file sets it, else at the
		// stream, so that the line always points into the file.
		at := staleAfter
		if c.meta != nil {
			if _, ok := c.meta.origin["mllm.timeout"]; ok {
				at = "mllm.timeout"
			}
		}
		v.errorf(at, "%s = %s is not shorter than %s = %s: windows are cut by their freshness first, so the per-request limit never ends a request; "+
			"a hung server is still taken as failing once a request is out over 3× the endpoint's usual time (at least 2s). "+
			"For a plain per-request limit, set %s below %s",
			v.name("mllm.timeout"), c.MLLM.Timeout, v.name(staleAfter), s.StaleAfter, v.name("mllm.timeout"), s.StaleAfter)
	}
	return v.diags.sorted()
}
