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
// first lines say what is wrong, the rest are only counted, and the count is
// logged when the second is over.
const ffmpegLinesPerSecond = 5

// ffmpegMessageMax bounds one assembled message. FFmpeg's callback already
// cuts each piece at 1023 bytes; a message built of many pieces is cut here.
const ffmpegMessageMax = 4096

// ffmpegPendingMax bounds how many contexts may have a message half written.
const ffmpegPendingMax = 16

type ffmpegLog struct {
	mu          sync.Mutex
	log         hclog.Logger
	windowStart time.Time
	lines       int
	suppressed  int
	summary     *time.Timer // logs the suppressed count at the end of the second
	// pending holds, per logging context, the pieces of a message that has
	// not ended with a newline yet: FFmpeg writes one message in several
	// calls, and several lines in one.
	pending map[uintptr]*pendingMessage
	flush   *time.Timer // writes out pieces whose end never came
}

type pendingMessage struct {
	text      strings.Builder
	level     astiav.LogLevel
	truncated bool
}

var (
	ffmpegLogger = &ffmpegLog{pending: map[uintptr]*pendingMessage{}}
	installLog   sync.Once
)

// RouteFFmpegLogs sends FFmpeg's warnings and errors to log (sub-logger
// "ffmpeg"). Call it at start-up; later calls replace the logger, after
// writing out what the old one was still owed.
func RouteFFmpegLogs(log hclog.Logger) {
	FlushFFmpegLogs()
	ffmpegLogger.mu.Lock()
	ffmpegLogger.log = log.Named("ffmpeg")
	ffmpegLogger.mu.Unlock()
	installLog.Do(installFFmpegLogCallback)
}

// FlushFFmpegLogs writes out what FFmpeg's log holds back (a message
// without its end, the count of suppressed messages) and stops the timers
// that would write it later. Call it before the logger's output goes away.
func FlushFFmpegLogs() {
	ffmpegLogger.flushPending(time.Now())
	ffmpegLogger.mu.Lock()
	defer ffmpegLogger.mu.Unlock()
	ffmpegLogger.summarize()
}

// benignFFmpegMessages are warnings garssld causes on purpose: the JPEG
// pictures are scaled to full-range yuvj420p, which swscale calls deprecated.
var benignFFmpegMessages = map[string]bool{
	"deprecated pixel format used, make sure you did set range correctly": true,
}

// piece takes one call of FFmpeg's log callback from context avcl. A
// message is complete when a piece ends with a newline; its lines become
// one record.
func (f *ffmpegLog) piece(avcl uintptr, level astiav.LogLevel, text string, truncated bool, now time.Time) {
	if level > astiav.LogLevelWarning {
		return
	}
	f.mu.Lock()
	p := f.pending[avcl]
	if p == nil {
		if len(f.pending) >= ffmpegPendingMax {
			f.mu.Unlock()
			f.flushPending(now)
			f.mu.Lock()
		}
		p = &pendingMessage{level: level}
		f.pending[avcl] = p
	}
	if room := ffmpegMessageMax - p.text.Len(); len(text) > room {
		text, truncated = text[:max(0, room)], true
	}
	p.text.WriteString(text)
	p.level = min(p.level, level)
	p.truncated = p.truncated || truncated
	complete := strings.HasSuffix(text, "\n") || p.truncated
	if complete {
		delete(f.pending, avcl)
	} else if f.flush == nil {
		f.flush = time.AfterFunc(time.Second, func() { f.flushPending(time.Now()) })
	}
	f.mu.Unlock()
	if complete {
		f.write(p.level, p.message(), now)
	}
}

// message joins the lines of a message into one.
func (p *pendingMessage) message() string {
	var lines []string
	for _, l := range strings.Split(p.text.String(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	msg := strings.Join(lines, "; ")
	if p.truncated {
		msg = redact.Truncated(msg) + " […truncated]"
	}
	return msg
}

// flushPending writes out every half-written message.
func (f *ffmpegLog) flushPending(now time.Time) {
	f.mu.Lock()
	pending := f.pending
	f.pending = map[uintptr]*pendingMessage{}
	if f.flush != nil {
		f.flush.Stop()
		f.flush = nil
	}
	f.mu.Unlock()
	for _, p := range pending {
		f.write(p.level, p.message(), now)
	}
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
		f.summarize()
		f.windowStart, f.lines = now, 0
	}
	if f.lines >= ffmpegLinesPerSecond {
		f.suppressed++
		if f.summary == nil {
			f.summary = time.AfterFunc(time.Second-now.Sub(f.windowStart), func() {
				f.mu.Lock()
				defer f.mu.Unlock()
				f.summarize()
			})
		}
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

// summarize logs how many messages the last second suppressed. f.mu is held.
func (f *ffmpegLog) summarize() {
	if f.summary != nil {
		f.summary.Stop()
		f.summary = nil
	}
	if f.suppressed > 0 && f.log != nil {
		f.log.Warn("FFmpeg messages suppressed", "count", f.suppressed)
	}
	f.suppressed = 0
}
