package capture

import (
	"context"
	"fmt"
	"github.com/garssl/garssld/media"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/internal/syncbuf"
)

// secretLines are FFmpeg log lines as FFmpeg writes them, each carrying the
// secret S3CRET in a URL.
var secretLines = []string{
	"Connection to tcp://user:S3CRET@10.0.0.1:554?timeout=0 failed: Connection refused",
	"Opening 'http://cdn/seg42.ts?token=S3CRET' for reading",
	"Redirecting to https://cdn/live.m3u8?X-Amz-Signature=S3CRET&ok=1",
	"Failed to open segment 3 of playlist 0: async:http://u:S3CRET@cam/s.ts",
	"cache:https://user:S3CRET@cam/x: Input/output error",
	"srt://cam:9000?passphrase=S3CRET: Connection setup failure",
}

func TestFFmpegLogLinesAreRedacted(t *testing.T) {
	var out syncbuf.Buffer
	f := &ffmpegLog{log: hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Trace})}
	now := time.Now()
	for i, line := range secretLines {
		// A new second each line, so the rate limit lets every line through.
		f.write(astiav.LogLevelError, line, now.Add(time.Duration(i)*time.Second))
	}
	logged := out.String()
	if strings.Contains(logged, "S3CRET") {
		t.Errorf("FFmpeg log shows a secret:\n%s", logged)
	}
	if n := strings.Count(logged, "xxxxx"); n < len(secretLines) {
		t.Errorf("%d redactions in %d lines; the lines did not get through:\n%s", n, len(secretLines), logged)
	}
}

// TestFFmpegLogCutURLIsRedacted: a message cut short, by the callback's
// 1 KiB buffer or by ffmpegMessageMax, may end inside a URL's user info,
// before the "@" that tells a password from a host name. What is left of
// that URL must not be printed.
func TestFFmpegLogCutURLIsRedacted(t *testing.T) {
	const url = "rtsp://admin:S3CRET@cam.local/stream1"
	cut := strings.Index(url, "S3") + 2 // the first letters of the password
	for _, tc := range []struct {
		name   string
		pieces func(f *ffmpegLog, now time.Time)
	}{
		{"callback buffer", func(f *ffmpegLog, now time.Time) {
			// The C side cut the line and said so.
			f.piece(1, astiav.LogLevelError, "Opening "+url[:cut], true, now)
		}},
		{"message bound", func(f *ffmpegLog, now time.Time) {
			head := "Opening " + strings.Repeat("x", ffmpegMessageMax-len("Opening ")-1-cut)
			f.piece(1, astiav.LogLevelError, head, false, now)
			f.piece(1, astiav.LogLevelError, " "+url+" failed\n", false, now)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out syncbuf.Buffer
			f := &ffmpegLog{log: hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Trace}), pending: map[uintptr]*pendingMessage{}}
			tc.pieces(f, time.Now())
			logged := out.String()
			if !strings.Contains(logged, "truncated") {
				t.Fatalf("the message was not logged as cut:\n%s", logged)
			}
			tail := logged[max(0, len(logged)-120):]
			if strings.Contains(logged, "S3") {
				t.Errorf("the log shows the start of the password: …%s", tail)
			}
			if !strings.Contains(logged, "rtsp://xxxxx") {
				t.Errorf("the log does not say a URL was hidden: …%s", tail)
			}
		})
	}
}

// nullSink ignores media; the sources below never deliver any.
type nullSink struct{}

func (nullSink) Anchor(time.Time)                 {}
func (nullSink) Audio(time.Duration, []int16)     {}
func (nullSink) PictureTarget() time.Duration     { return math.MaxInt64 }
func (nullSink) Picture(media.Picture)            {}
func (nullSink) VideoAt(time.Duration)            {}
func (nullSink) Gap(time.Duration, time.Duration) {}

// TestSecretsStayOutOfStatesErrorsAndFFmpegLogs runs real sources whose
// inputs carry secrets against a closed port: FFmpeg logs the failed
// connection with the URL, the Source logs state changes and reconnects,
// and Run returns an error. None of it may show the secret.
func TestSecretsStayOutOfStatesErrorsAndFFmpegLogs(t *testing.T) {
	inputs := []string{
		"tcp://user:S3CRET@127.0.0.1:1?listen=0",
		"tcp://127.0.0.1:1?auth_token=S3CRET",
		"http://admin:S3CRET@127.0.0.1:1/live.m3u8?token=S3CRET",
		"async:tcp://user:S3CRET@127.0.0.1:1",
		"rtsp://admin:S3CRET@127.0.0.1:abc/stream", // does not parse
		"rtsp://admin:S3%CRET@127.0.0.1/stream",    // bad escape
	}
	for _, input := range inputs {
		t.Run(input[:strings.Index(input, ":")], func(t *testing.T) {
			var logs syncbuf.Buffer
			log := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Trace})
			RouteFFmpegLogs(log)
			t.Cleanup(func() { RouteFFmpegLogs(hclog.NewNullLogger()) })

			var mu sync.Mutex
			var states []string
			src, err := New(Config{Name: "front", Input: input, ModelWidth: 224, ModelHeight: 224,
				BackoffMin: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond, StallTimeout: time.Second},
				nullSink{}, log, func(st Status) {
					mu.Lock()
					defer mu.Unlock()
					states = append(states, fmt.Sprintf("%s %s", st.State, st.LastError))
				})
			var shown []string
			if err != nil {
				shown = append(shown, err.Error())
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				done := make(chan error, 1)
				go func() { done <- src.Run(ctx) }()
				// A live input fails and reconnects; let it do so a few
				// times, then stop it. A file input ends by itself.
				var runErr error
				deadline := time.After(20 * time.Second)
			wait:
				for {
					select {
					case runErr = <-done:
						break wait
					case <-deadline:
						t.Fatalf("no reconnects after 20 s; status %+v", src.Status())
					case <-time.After(10 * time.Millisecond):
						if src.Stats().Reconnects >= 2 {
							cancel()
						}
					}
				}
				if runErr != nil {
					shown = append(shown, runErr.Error())
				}
				st := src.Status()
				shown = append(shown, st.LastError, src.feeds[0].spec.String())
			}
			mu.Lock()
			shown = append(shown, states...)
			mu.Unlock()
			shown = append(shown, logs.String())
			everything := strings.Join(shown, "\n")
			if strings.Contains(everything, "S3") {
				t.Errorf("a secret was shown:\n%s", everything)
			}
			if !strings.Contains(everything, "xxxxx") && !strings.Contains(everything, "not a valid URL") {
				t.Errorf("nothing was redacted; did the checks see the input?\n%s", everything)
			}
			if strings.HasPrefix(input, "tcp://user") && !strings.Contains(logs.String(), "Connection to tcp://xxxxx@127.0.0.1:1") {
				t.Errorf("FFmpeg's own line about the failed connection is missing:\n%s", logs.String())
			}
		})
	}
}
