package capture

import (
	"maps"
	"testing"
)

// TestArrayChannelsOpenDevices: ALSA and Pulse inputs are opened with as
// many channels as the array's highest channel needs, unless the options
// set a count; other inputs and streams without an array are left alone.
func TestArrayChannelsOpenDevices(t *testing.T) {
	for _, tc := range []struct {
		input    string
		opts     map[string]string
		channels []int
		want     map[string]string
	}{
		{"alsa:hw:1,0", nil, []int{0, 1, 2, 3}, map[string]string{"channels": "4"}},
		{"pulse:default", map[string]string{"sample_rate": "16000"}, []int{4, 1}, map[string]string{"sample_rate": "16000", "channels": "5"}},
		{"alsa:hw:1,0", map[string]string{"channels": "6"}, []int{1, 2, 3, 4}, map[string]string{"channels": "6"}},
		{"alsa:hw:1,0", nil, nil, nil},
		{"clip.mkv", nil, []int{0, 1}, nil},
		{"rtsp://cam/1", map[string]string{"rtsp_transport": "tcp"}, []int{0, 1}, map[string]string{"rtsp_transport": "tcp"}},
	} {
		spec, err := parseInput(tc.input)
		if err != nil {
			t.Fatal(err)
		}
		before := maps.Clone(tc.opts)
		got := withArrayChannels(spec, tc.opts, arrayOptions{stream: "s", channels: tc.channels})
		if !maps.Equal(got, tc.want) {
			t.Errorf("%s %v with channels %v: options %v, want %v", tc.input, tc.opts, tc.channels, got, tc.want)
		}
		if !maps.Equal(tc.opts, before) {
			t.Errorf("%s: the configured options changed to %v", tc.input, tc.opts)
		}
	}
}
