package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/garssl/garssld/internal/filekind"
	"github.com/garssl/garssld/internal/redact"
)

// Attribute checks. Each is the one rule for a config attribute: the loader
// runs it on the file's value (named by its path, "stream.front.window")
// and the commands run it on a flag's value (named by the flag,
// "--window"), so a value is refused with the same message wherever it
// comes from. A new attribute that a flag can set gets its check here, and
// the validator and the flag both call it.

// CheckWindow checks a window length: a whole number of 16 kHz samples from
// MinWindow to 30 s.
func CheckWindow(name string, d time.Duration) error {
	switch {
	case d > maxWindow:
		return fmt.Errorf("%s = %s is too long; use at most %s", name, d, maxWindow)
	case d > 0 && d < MinWindow:
		return fmt.Errorf("%s = %s is too short to hear anything; use at least %s", name, d, MinWindow)
	}
	return checkSampleAligned(name, d)
}

// CheckHop checks the distance between window starts: a positive whole
// number of 16 kHz samples.
func CheckHop(name string, d time.Duration) error { return checkSampleAligned(name, d) }

// CheckStallTimeout checks stream.*.stall_timeout: greater than 0.
func CheckStallTimeout(name string, d time.Duration) error { return checkPositiveDuration(name, d) }

// CheckLogLevel checks log.level.
func CheckLogLevel(name, level string) error { return checkOneOf(name, level, logLevels) }

// CheckFramePick checks stream.*.frame_pick.
func CheckFramePick(name string, f FramePick) error { return checkOneOf(name, f, framePicks) }

// CheckFrameTolerance checks stream.*.frame_tolerance: above 0, and at
// most the distance at which a frame still shows its window's moment.
func CheckFrameTolerance(name string, d time.Duration) error {
	if d <= 0 || d > maxFrameTolerance {
		return fmt.Errorf("%s = %s is out of range; use above 0s up to %s (a frame further from the centre does not show the window's moment)", name, d, maxFrameTolerance)
	}
	return nil
}

// CheckFramePickSkip refuses skip_frame with frame_pick = "exact": an
// exact picture is a full decode's, which skips no frame, and with only
// the needed packets decoded, skipping has nothing left to save.
func CheckFramePickSkip(name string, f FramePick, s SkipFrame) error {
	if f == FramePickExact && s != SkipFrameNone {
		return fmt.Errorf("%s = %q cannot go with frame_pick = %q (the default): an exact picture is the one a decode of every frame gives, and only the packets it needs are decoded, so there is nothing left to skip; drop skip_frame, or set frame_pick = %q or %q", name, s, f, FramePickNearestKey, FramePickAll)
	}
	return nil
}

// CheckSkipFrame checks stream.*.skip_frame.
func CheckSkipFrame(name string, s SkipFrame) error { return checkOneOf(name, s, skipFrames) }

// CheckHFOV checks camera.hfov_deg: above 0 and below 180 degrees.
func CheckHFOV(name string, deg float64) error {
	if !(deg > 0 && deg < maxHFOVDeg) {
		return fmt.Errorf("%s = %s is out of range; use a value above 0 and below %d degrees", name, formatFloat(deg), maxHFOVDeg)
	}
	return nil
}

// CheckModelSize checks gar.model_size (and each side of `dump
// --model-size WxH`). It suggests the nearest valid sizes, because the usual
// mistake is a camera-ish size such as 230 or 640.
func CheckModelSize(name string, n int) error {
	if n < minModelSize || n > maxModelSize {
		return fmt.Errorf("%s = %d is out of range; use a multiple of %d from %d to %d", name, n, modelSizeStep, minModelSize, maxModelSize)
	}
	if n%modelSizeStep == 0 {
		return nil
	}
	var near []string
	for m := n / modelSizeStep * modelSizeStep; len(near) < 3 && m <= maxModelSize; m += modelSizeStep {
		if m >= minModelSize {
			near = append(near, strconv.Itoa(m))
		}
	}
	return fmt.Errorf("%s = %d is not a multiple of %d; use %s, …", name, n, modelSizeStep, strings.Join(near, ", "))
}

// CheckInput checks what a stream's input or audio names, without opening
// it: a URL must parse (the message never quotes its credentials), a device
// ("v4l2:…", "alsa:…", "pulse:…") must name one, and, unless fileChecks is
// false, a local file (a path, file:<path> or a file:// URL) must exist and
// be a regular file: a named pipe would block the capture in a system call
// that no stop can cancel. Device nodes under /dev may appear after
// start-up (a USB camera plugged in late), so they are left to the
// capture's reconnects.
func CheckInput(name, input string, fileChecks bool) error {
	if i := strings.IndexByte(input, ':'); i > 0 {
		scheme := strings.ToLower(input[:i])
		if deviceDemuxers[scheme] {
			if strings.TrimSpace(input[i+1:]) == "" {
				return fmt.Errorf("%s %q names no device; write %s:<device>, e.g. v4l2:/dev/video0, alsa:hw:1,0 or pulse:default", name, input, scheme)
			}
			return nil
		}
		if strings.HasPrefix(input[i:], "://") {
			u, err := redact.ParseURL(input)
			if err != nil {
				return fmt.Errorf("%s %q is not a valid URL: %w", name, redact.URL(input), err)
			}
			if scheme != "file" || !fileChecks {
				return nil
			}
			return checkInputFile(name, input, u.Path)
		}
		if scheme == "file" {
			// FFmpeg's file protocol: file:<path>.
			if !fileChecks {
				return nil
			}
			return checkInputFile(name, input, input[i+1:])
		}
		if !strings.Contains(input[:i], "/") {
			// An FFmpeg protocol such as pipe:0 or async:…; FFmpeg
			// judges it when opening.
			return nil
		}
	}
	if !fileChecks {
		return nil
	}
	return checkInputFile(name, input, input)
}

func checkInputFile(name, input, path string) error {
	if path == "/dev" || strings.HasPrefix(path, "/dev/") {
		return nil
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s %q does not exist; give a file path, a URL (rtsp://, udp://, srt://, http://) or a device such as v4l2:/dev/video0", name, input)
	case err != nil:
		return fmt.Errorf("%s %q cannot be read: %s", name, input, pathErrorReason(err))
	case fi.IsDir():
		return fmt.Errorf("%s %q is a directory; name a media file", name, input)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s %q is %s, not a regular file: capture could wait on it forever, and no stop can interrupt that; give a media file, a URL (rtsp://, udp://, srt://, http://) or a device such as v4l2:/dev/video0", name, input, filekind.Of(fi.Mode()))
	}
	return nil
}

// checkSampleAligned requires a positive whole number of 16 kHz samples, so
// that every window holds exactly window×16000 samples and windows start
// on sample boundaries.
func checkSampleAligned(name string, d time.Duration) error {
	switch {
	case d <= 0:
		return fmt.Errorf("%s = %s must be greater than 0", name, d)
	case d%sampleDuration != 0:
		return fmt.Errorf("%s = %s is not a whole number of 16 kHz samples; use a multiple of %s, e.g. %s", name, d, sampleDuration, max(d.Round(sampleDuration), sampleDuration))
	}
	return nil
}

func checkPositiveDuration(name string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s = %s must be greater than 0", name, d)
	}
	return nil
}

func checkOneOf[S ~string](name string, got S, valid []S) error {
	if !slices.Contains(valid, got) {
		return fmt.Errorf("%s %q is not one of %s", name, string(got), oneOfList(valid))
	}
	return nil
}

func checkFloatRange(name string, f, lo, hi float64) error {
	if !(f >= lo && f <= hi) || math.IsNaN(f) {
		return fmt.Errorf("%s = %s is out of range; use %s to %s", name, formatFloat(f), formatFloat(lo), formatFloat(hi))
	}
	return nil
}
