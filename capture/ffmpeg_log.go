package capture

import (
	"strings"
	"sync"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/internal/redact"
)

// ffmpegLinesPerSecond bounds how much of FFmpeg's own logging reaches the
// log. A corrupt stream makes a decoder complain about every macroblock; the
// first lines say what is wrong, the rest are only counted.
const ffmpegLinesPerSecond = 5

type ffmpegLog struct {
	mu          sync.Mutex
	log         hclog.Logger
	windowStart time.Time
	lines       int
	suppressed  int
}

var (
	ffmpegLogger = &ffmpegLog{}
	installLog   sync.Once
)

// RouteFFmpegLogs sends FFmpeg's warnings and errors to log (sub-logger
// "ffmpeg"). Call it at start-up; later calls replace the logger.
func RouteFFmpegLogs(log hclog.Logger) {
	ffmpegLogger.mu.Lock()
	ffmpegLogger.log = log.Named("ffmpeg")
	ffmpegLogger.mu.Unlock()
	installLog.Do(func() {
		astiav.SetLogLevel(astiav.LogLevelWarning)
		astiav.SetLogCallback(func(_ astiav.Classer, l astiav.LogLevel, _, msg string) {
			ffmpegLogger.write(l, strings.TrimSpace(msg), time.Now())
		})
	})
}

// benignFFmpegMessages are warnings garssld causes on purpose: the JPEG
// pictures are scaled to full-range yuvj420p, which swscale calls deprecated.
var benignFFmpegMessages = map[string]bool{
	"deprecated pixel format used, make sure you did set range correctly": true,
}

func (f *ffmpegLog) write(level astiav.LogLevel, msg string, now time.Time) {
	if msg == "" || level > astiav.LogLevelWarning || benignFFmpegMessages[msg] {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.log == nil {
		return
	}
	if now.Sub(f.windowStart) >= time.Second {
		if f.suppressed > 0 {
			f.log.Warn("FFmpeg messages suppressed", "count", f.suppressed)
		}
		f.windowStart, f.lines, f.suppressed = now, 0, 0
	}
	if f.lines >= ffmpegLinesPerSecond {
		f.suppressed++
		return
	}
	f.lines++
	// FFmpeg quotes URLs with their credentials ("Connection to
	// tcp://user:pw@…", HLS segment and redirect URLs with tokens).
	msg = redact.Text(msg)
	if level <= astiav.LogLevelError {
		f.log.Error(msg)
	} else {
		f.log.Warn(msg)
	}
}
