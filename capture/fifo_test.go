package capture_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/garssl/garssld/capture"
	"github.com/garssl/garssld/internal/testmedia"
)

// A named pipe nobody writes to, named as an input after `check` passed
// (or behind a symlink), is refused before FFmpeg opens it: open(2) on it
// would block the capture where no stop can reach it. The refusal is the
// file's kind, final like any file that cannot be opened.
func TestFIFOIsRefusedAtOpen(t *testing.T) {
	dir := t.TempDir()
	clip := testmedia.File(t, dir, "clip.mp4", testmedia.Args(testmedia.TestPattern(320, 240, 30, 1),
		[]string{"-c:v", "libx264", "-preset", "ultrafast"})...)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.mp4")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  capture.Config
	}{
		{"path", capture.Config{Input: fifo}},
		{"file: protocol", capture.Config{Input: "file:" + fifo}},
		{"file URL", capture.Config{Input: "file://" + fifo}},
		{"symlink", capture.Config{Input: link}},
		{"separate audio", capture.Config{Input: clip, Audio: fifo}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Name, tc.cfg.Service = "fifo", true
			c := newCollector(t, tc.cfg, time.Second, time.Second)
			done := make(chan error, 1)
			go func() { done <- c.run(t, 30*time.Second) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				// Blocked in open(2): a writer releases it, so the test
				// ends; the open should never have been tried.
				if w, werr := os.OpenFile(fifo, os.O_WRONLY, 0); werr == nil {
					w.Close()
				}
				<-done
				t.Fatal("the capture blocked opening the FIFO")
			}
			if !errors.Is(err, capture.ErrBadInput) || !strings.Contains(err.Error(), "named pipe (FIFO)") {
				t.Errorf("Run = %v, want ErrBadInput naming the FIFO", err)
			}
			if st := c.source.Status(); st.State != capture.StateStopped {
				t.Errorf("status %+v, want stopped", st)
			}
		})
	}
}
