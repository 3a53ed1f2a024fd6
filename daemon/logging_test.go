package daemon

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/garssl/garssld/config"
)

// Text on a terminal, JSON elsewhere, unless log.format says; streams log
// through a named sub-logger that carries the stream key.
func TestLoggerFormats(t *testing.T) {
	tty, err := os.OpenFile("/dev/null", os.O_WRONLY, 0) // a character device, as a terminal is
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	file, err := os.Create(t.TempDir() + "/log")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, tc := range []struct {
		format config.LogFormat
		out    *os.File
		json   bool
	}{
		{config.LogFormatAuto, tty, false},
		{config.LogFormatAuto, file, true},
		{config.LogFormatJSON, tty, true},
		{config.LogFormatText, file, false},
	} {
		if got := NewLogger(config.Log{Level: "info", Format: tc.format}, tc.out).IsTrace(); got {
			t.Errorf("%s: trace enabled at level info", tc.format)
		}
		if got := jsonFormat(config.Log{Format: tc.format}, tc.out); got != tc.json {
			t.Errorf("format %s to %s: JSON = %v, want %v", tc.format, tc.out.Name(), got, tc.json)
		}
	}

	var buf bytes.Buffer // not a terminal
	root := NewLogger(config.Log{Level: "debug", Format: config.LogFormatAuto}, &buf)
	streamLog(root, "front").Info("stream state", "state", "running")
	var line map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &line); err != nil {
		t.Fatalf("log to a buffer is not JSON: %v: %s", err, buf.String())
	}
	if line["@module"] != "garssld.stream.front" || line["stream"] != "front" || line["state"] != "running" {
		t.Errorf("stream log line %v", line)
	}
	root.SetLevel(NewLogger(config.Log{Level: "warn"}, &buf).GetLevel())
	buf.Reset()
	streamLog(root, "front").Info("hidden")
	if strings.Contains(buf.String(), "hidden") {
		t.Error("a stream's logger does not follow the root's level")
	}
}
