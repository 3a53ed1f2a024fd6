package mllm

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/garssl/garssld/internal/redact"
)

// Defaults applied to zero Config fields; they match the design's example
// configuration.
const (
	DefaultTimeout             = 20 * time.Second
	DefaultMaxInFlight         = 8
	DefaultConsecutiveFailures = 5
	DefaultOpenFor             = 30 * time.Second
	DefaultOpenMin             = time.Second
)

// Config configures a Client. Zero numeric fields take the Default* values.
type Config struct {
	// Endpoints are base URLs ending in /v1, e.g. http://127.0.0.1:8000/v1.
	Endpoints []string
	// Model is sent as the request's "model".
	Model string
	// APIKeyFile optionally names a file holding a bearer token. It is read
	// once by New and surrounding whitespace is trimmed.
	APIKeyFile string
	// Timeout bounds one attempt: connecting, sending and reading the answer.
	Timeout time.Duration
	// MaxInFlight caps concurrent requests per endpoint.
	MaxInFlight int
	// Breaker configures the per-endpoint circuit breakers.
	Breaker BreakerConfig
	// StructuredOutput sends response_format when a Request carries a schema.
	StructuredOutput bool
	// HTTPClient is used when set; its Timeout, if any, also applies.
	// Otherwise New builds one whose idle pool fits MaxInFlight.
	HTTPClient *http.Client
}

// BreakerConfig configures the circuit breaker of each endpoint.
type BreakerConfig struct {
	// ConsecutiveFailures opens the breaker after this many failures in a row.
	ConsecutiveFailures uint32
	// OpenMin is how long a breaker that just tripped rejects requests
	// before it lets a single probe through; each failed probe doubles it.
	OpenMin time.Duration
	// OpenFor caps the open time that failed probes double.
	OpenFor time.Duration
}

func (cfg Config) withDefaults() (Config, error) {
	switch {
	case cfg.Timeout < 0:
		return cfg, fmt.Errorf("timeout %s is negative", cfg.Timeout)
	case cfg.MaxInFlight < 0:
		return cfg, fmt.Errorf("max_in_flight %d is negative", cfg.MaxInFlight)
	case cfg.Breaker.OpenFor < 0:
		return cfg, fmt.Errorf("breaker open_for %s is negative", cfg.Breaker.OpenFor)
	case cfg.Breaker.OpenMin < 0:
		return cfg, fmt.Errorf("breaker open_min %s is negative", cfg.Breaker.OpenMin)
	case strings.TrimSpace(cfg.Model) == "":
		return cfg, errors.New("model is empty")
	case len(cfg.Endpoints) == 0:
		return cfg, errors.New("no endpoints")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.Breaker.ConsecutiveFailures == 0 {
		cfg.Breaker.ConsecutiveFailures = DefaultConsecutiveFailures
	}
	if cfg.Breaker.OpenFor == 0 {
		cfg.Breaker.OpenFor = DefaultOpenFor
	}
	if cfg.Breaker.OpenMin == 0 {
		cfg.Breaker.OpenMin = DefaultOpenMin
	}
	// A cap below the start is a fixed open time of the cap.
	cfg.Breaker.OpenMin = min(cfg.Breaker.OpenMin, cfg.Breaker.OpenFor)
	return cfg, nil
}

// endpointURLs holds the two spellings of an endpoint: the real one used for
// requests and a display one, safe for logs, errors and metric labels.
type endpointURLs struct {
	post string // {base}/chat/completions, credentials included
	name string // base URL with any password redacted
}

func parseEndpoint(raw string) (endpointURLs, error) {
	u, err := redact.ParseURL(strings.TrimSpace(raw))
	if err != nil {
		return endpointURLs{}, fmt.Errorf("endpoint is not a valid URL: %w", err)
	}
	name := strings.TrimRight(redact.URL(u.String()), "/")
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return endpointURLs{}, fmt.Errorf("endpoint %s: scheme must be http or https", name)
	case u.Host == "":
		return endpointURLs{}, fmt.Errorf("endpoint %s: no host", name)
	case u.RawQuery != "" || u.Fragment != "":
		return endpointURLs{}, fmt.Errorf("endpoint %s: must not have a query or fragment", name)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return endpointURLs{post: u.String() + "/chat/completions", name: name}, nil
}

// readAPIKey returns the Authorization header value for the key in path. Its
// errors name the file but never quote its contents.
func readAPIKey(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("api key file: %w", err)
	}
	key := bytes.TrimSpace(raw)
	if len(key) == 0 {
		return "", fmt.Errorf("api key file %s is empty", path)
	}
	for _, b := range key {
		if b < 0x21 || b > 0x7e {
			return "", fmt.Errorf("api key file %s: key holds whitespace, control or non-ASCII bytes", path)
		}
	}
	return "Bearer " + string(key), nil
}
