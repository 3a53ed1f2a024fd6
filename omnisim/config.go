package omnisim

import (
	"fmt"
	"time"
)

// Config holds every setting of the simulator. Field comments name the flag of
// cmd/omnisim that sets them; validation errors use the flag names too.
type Config struct {
	Model     string // --model: the only model name served
	Seed      uint64 // --seed: drives every answer and fault draw
	Sources   int    // --sources: K when a request does not say (see package doc)
	TruthFile string // --truth: optional truth sidecar (JSON)

	// PromptTokensDetails reports usage.prompt_tokens_details.cached_tokens,
	// as vLLM does with --enable-prompt-tokens-details and llama-server
	// always does.
	PromptTokensDetails bool // --prompt-tokens-details

	PrefixCache  bool          // --prefix-cache
	CacheEntries int           // --cache-entries: LRU capacity in prefixes
	CacheTTL     time.Duration // --cache-ttl

	BaseMs            float64 // --base-ms: fixed overhead per request
	PrefillMsPerToken float64 // --prefill-ms-per-token
	DecodeMsPerToken  float64 // --decode-ms-per-token
	BatchSlowdown     float64 // --batch-slowdown: extra step cost per other active sequence
	TimeScale         float64 // --time-scale: multiplies every latency-model sleep; 0 = no sleeping

	Faults Faults // --error-rate, --timeout-rate, --garbage-rate, --hang-max, --down
}

// DefaultModel is the model name served unless Config.Model says otherwise.
const DefaultModel = "Qwen/Qwen2.5-Omni-7B"

// maxSources bounds K so a prompt cannot ask for an absurd answer.
const maxSources = 8

// DefaultConfig returns the documented defaults of cmd/omnisim.
func DefaultConfig() Config {
	return Config{
		Model:               DefaultModel,
		Seed:                1,
		Sources:             1,
		PrefixCache:         true,
		PromptTokensDetails: true,
		CacheEntries:        4096,
		CacheTTL:            10 * time.Minute,
		BaseMs:              10,
		PrefillMsPerToken:   0.5,
		DecodeMsPerToken:    6,
		BatchSlowdown:       0.05,
		TimeScale:           1,
		Faults:              Faults{HangMax: 5 * time.Minute},
	}
}

func (c Config) validate() error {
	if c.Model == "" {
		return fmt.Errorf("--model must not be empty")
	}
	if c.Sources < 1 || c.Sources > maxSources {
		return fmt.Errorf("--sources must be between 1 and %d, got %d", maxSources, c.Sources)
	}
	if c.PrefixCache && c.CacheEntries < 1 {
		return fmt.Errorf("--cache-entries must be at least 1 when --prefix-cache is on, got %d", c.CacheEntries)
	}
	if c.PrefixCache && c.CacheTTL <= 0 {
		return fmt.Errorf("--cache-ttl must be positive when --prefix-cache is on, got %s", c.CacheTTL)
	}
	for _, f := range []struct {
		flag  string
		value float64
	}{
		{"--base-ms", c.BaseMs},
		{"--prefill-ms-per-token", c.PrefillMsPerToken},
		{"--decode-ms-per-token", c.DecodeMsPerToken},
		{"--batch-slowdown", c.BatchSlowdown},
		{"--time-scale", c.TimeScale},
	} {
		if !(f.value >= 0) || f.value > 1e6 {
			return fmt.Errorf("%s must be a number between 0 and 1e6, got %v", f.flag, f.value)
		}
	}
	return c.Faults.validate()
}
