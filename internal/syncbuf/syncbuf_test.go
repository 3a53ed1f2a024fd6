package syncbuf

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
)

// Under -race, unsynchronised writes to one bytes.Buffer are reported; the
// lines must also come out whole, whatever the interleaving.
func TestConcurrentWritesStayWhole(t *testing.T) {
	const writers, lines = 8, 200
	line := strings.Repeat("x", 64) + "\n"
	buf := &Buffer{}
	var raw bytes.Buffer
	for _, tc := range []struct {
		name string
		w    io.Writer
		read func() string
	}{
		{"Buffer", buf, buf.String},
		{"Writer", NewWriter(&raw), raw.String},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var wg sync.WaitGroup
			for range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range lines {
						if _, err := tc.w.Write([]byte(line)); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if got, want := tc.read(), strings.Repeat(line, writers*lines); got != want {
				t.Errorf("got %d bytes (%d whole lines), want %d bytes", len(got), strings.Count(got, line), len(want))
			}
		})
	}
}
