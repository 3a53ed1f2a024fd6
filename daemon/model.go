package daemon

import (
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/config"
	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/gar/mllm"
)

// NewLocalizer builds the model client and the GAR loop a config describes.
// obs may be nil.
func NewLocalizer(cfg *config.Config, log hclog.Logger, obs mllm.Observer) (*gar.Localizer, *mllm.Client, error) {
	client, err := mllm.New(mllm.Config{
		Endpoints:        cfg.MLLM.Endpoints,
		Model:            cfg.MLLM.Model,
		APIKeyFile:       cfg.MLLM.APIKeyFile,
		Timeout:          cfg.MLLM.Timeout,
		MaxInFlight:      cfg.MLLM.MaxInFlight,
		StructuredOutput: cfg.MLLM.StructuredOutput,
		Breaker: mllm.BreakerConfig{
			ConsecutiveFailures: uint32(cfg.MLLM.Breaker.ConsecutiveFailures),
			OpenMin:             cfg.MLLM.Breaker.OpenMin,
			OpenFor:             cfg.MLLM.Breaker.OpenFor,
		},
	}, log.Named("mllm"), obs)
	if err != nil {
		return nil, nil, fmt.Errorf("model client: %w", err)
	}
	loc, err := gar.NewLocalizer(gar.Config{
		AnalysisTrials: cfg.GAR.AnalysisTrials,
		TauAV:          cfg.GAR.TauAV,
		TauAudio:       cfg.GAR.TauAudio,
		MaxSources:     cfg.GAR.MaxSources,
		Temperature:    cfg.GAR.Temperature,
		TopP:           cfg.GAR.TopP,
		SupportsN:      cfg.MLLM.SupportsN,
		Schedule:       string(cfg.MLLM.Schedule),
		KeepRaw:        cfg.GAR.KeepRaw,
		Model:          cfg.MLLM.Model,
	}, client)
	if err != nil {
		return nil, nil, fmt.Errorf("GAR loop: %w", err)
	}
	return loc, client, nil
}
