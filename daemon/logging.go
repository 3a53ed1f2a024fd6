package daemon

import (
	"io"
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/config"
)

// NewLogger is garssld's root logger for log: text on a terminal, JSON
// otherwise (journald, files, pipes) when log.format is auto. Streams log
// through named sub-loggers ("garssld.stream.front") that carry the
// stream key, and they share the root's level, which a reload can change.
func NewLogger(l config.Log, out io.Writer) hclog.Logger {
	color := hclog.ColorOff
	if isTerminal(out) && !jsonFormat(l, out) {
		color = hclog.AutoColor
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "garssld",
		Level:      hclog.LevelFromString(l.Level),
		Output:     out,
		JSONFormat: jsonFormat(l, out),
		Color:      color,
	})
}

func jsonFormat(l config.Log, out io.Writer) bool {
	return l.Format == config.LogFormatJSON || l.Format == config.LogFormatAuto && !isTerminal(out)
}

// isTerminal reports whether out is a character device, as a terminal is.
// journald's stream socket, pipes and files are not.
func isTerminal(out io.Writer) bool {
	f, ok := out.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
