package main

import (
	"flag"

	"github.com/garssl/garssld/eval/dataset"
	"github.com/garssl/garssld/eval/metrics"
)

// benchmarkFlags are the flags that eval and score share.
type benchmarkFlags struct {
	dataset, annotations, protocol *string
}

func addBenchmarkFlags(fs *flag.FlagSet) benchmarkFlags {
	return benchmarkFlags{
		dataset:     fs.String("dataset", "", "benchmark: vggss, music-solo, vggss-duet or music-duet"),
		annotations: fs.String("annotations", "", "annotation file in the benchmark's public format (vggss.json, …)"),
		protocol:    fs.String("protocol", string(metrics.ProtocolGAR), "metric protocol: gar (the GAR authors') or standard (LVS/EZ-VSL/NoPrior)"),
	}
}

func (b benchmarkFlags) given() bool { return *b.dataset != "" && *b.annotations != "" }

// load checks the benchmark and protocol names and reads the annotations;
// every error is the user's to fix.
func (b benchmarkFlags) load() (*dataset.Annotations, metrics.Protocol, error) {
	kind, err := dataset.ParseKind(*b.dataset)
	if err != nil {
		return nil, "", usageError{err.Error()}
	}
	protocol, err := metrics.ParseProtocol(*b.protocol)
	if err != nil {
		return nil, "", usageError{err.Error()}
	}
	ann, err := dataset.Load(kind, *b.annotations)
	if err != nil {
		return nil, "", usageError{err.Error()}
	}
	return ann, protocol, nil
}
