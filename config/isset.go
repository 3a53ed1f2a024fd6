package config

// IsSet reports whether the file or a command-line override gave the value
// at path ("gar.tau_av", "mllm.max_in_flight"), rather than its default.
// Commands whose own defaults differ from the daemon's (the evaluation's
// per-dataset gate thresholds) use it to honour only what the user chose.
func (c *Config) IsSet(path string) bool {
	if c.meta == nil {
		return false
	}
	_, ok := c.meta.origin[path]
	return ok
}
