package daemon

import (
	"slices"
	"testing"

	"github.com/garssl/garssld/config"
)

// TestCaptureConfigArrayChannels: a stream's mic_array channels reach
// capture, in their order; without the block capture keeps no array.
func TestCaptureConfigArrayChannels(t *testing.T) {
	s := config.DefaultStream()
	s.Name, s.Input = "front", "udp://127.0.0.1:5000"
	if got := captureConfig(s, 224, false).ArrayChannels; got != nil {
		t.Errorf("without mic_array: ArrayChannels = %v, want none", got)
	}
	m := config.DefaultMicArray()
	m.Positions, m.Channels = [][3]float64{{0.05, 0, 0}, {-0.05, 0, 0}}, []int{3, 1}
	s.MicArray = &m
	if got := captureConfig(s, 224, false).ArrayChannels; !slices.Equal(got, []int{3, 1}) {
		t.Errorf("ArrayChannels = %v, want [3 1]", got)
	}
}
