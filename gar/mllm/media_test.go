package mllm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/garssl/garssld/internal/waittest"
	"github.com/garssl/garssld/omnisim"
	"github.com/garssl/garssld/omnisim/omnisimtest"
)

// silentWAV is half a second of 16 kHz mono silence.
func silentWAV() []byte {
	const rate, samples = 16000, 8000
	b := make([]byte, 44+2*samples)
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1) // PCM
	binary.LittleEndian.PutUint16(b[22:], 1) // mono
	binary.LittleEndian.PutUint32(b[24:], rate)
	binary.LittleEndian.PutUint32(b[28:], 2*rate)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], 2*samples)
	return b
}

// TestUnsupportedMediaIsASetupProblem: a server that cannot take the media
// (vLLM without vllm[audio], llama-server without --mmproj, as omnisim
// plays them over HTTP) is a configuration problem of that endpoint: the
// fix is logged once and reported, the breaker stays closed, later windows
// fail at once without a request, and a check every open_for finds the
// server fixed.
func TestUnsupportedMediaIsASetupProblem(t *testing.T) {
	tests := []struct {
		refuse omnisim.MediaRefusal
		fix    string
	}{
		{omnisim.RefuseVLLMAudio, `pip install "vllm[audio]"`},
		{omnisim.RefuseLlamaNoMMProj, "--mmproj"},
	}
	for _, tt := range tests {
		t.Run(string(tt.refuse), func(t *testing.T) {
			cfg := simConfig(0)
			cfg.Faults.RefuseMedia = tt.refuse
			sim, url := omnisimtest.Serve(t, cfg, nil)
			const recheck = 300 * time.Millisecond
			h := newHarness(t, Config{Endpoints: []string{url}, Breaker: BreakerConfig{ConsecutiveFailures: 1, OpenFor: recheck}})
			req := locateRequest(t, "n/s/1/locate")
			req.WAV = silentWAV()

			_, err := h.client.Complete(context.Background(), req)
			var serr *StatusError
			if !errors.Is(err, ErrUnsupportedMedia) || !errors.As(err, &serr) || !strings.Contains(serr.Fix, tt.fix) {
				t.Fatalf("err = %v, want ErrUnsupportedMedia whose fix says %q", err, tt.fix)
			}
			for i := range 3 {
				req.ID = fmt.Sprintf("n/s/%d/locate", 2+i)
				_, err := h.client.Complete(context.Background(), req)
				if !errors.Is(err, ErrUnsupportedMedia) || !strings.Contains(err.Error(), tt.fix) {
					t.Fatalf("window %d: err = %v, want a fast ErrUnsupportedMedia naming the fix", 2+i, err)
				}
			}
			if n := sim.Stats().Faults.MediaRefused; n != 1 {
				t.Errorf("the server got %d requests it refused, want 1: later windows must fail without one", n)
			}
			st := h.client.States()[0]
			if st.Breaker != BreakerClosed || !strings.Contains(st.Problem, tt.fix) {
				t.Errorf("state %+v: want the breaker closed and the problem with its fix", st)
			}
			want := []string{ResultUnsupportedMedia, ResultUnsupportedMedia, ResultUnsupportedMedia, ResultUnsupportedMedia}
			if got := h.obs.results(); !slices.Equal(got, want) {
				t.Errorf("observed %v, want %v", got, want)
			}
			if n := strings.Count(h.logs.String(), "cannot take the images or audio"); n != 1 {
				t.Errorf("%d log lines with the fix, want 1:\n%s", n, h.logs)
			}

			// Fixed on the server, no reload: the next check finds it.
			if err := sim.SetFaults(omnisim.Faults{}); err != nil {
				t.Fatal(err)
			}
			waittest.For(t, "a window after the fix", 10*recheck+5*time.Second, func() bool {
				_, err := h.client.Complete(context.Background(), req)
				return err == nil
			})
			if p := h.client.States()[0].Problem; p != "" {
				t.Errorf("problem %q after a success", p)
			}
			if got := h.obs.problemHistory(); len(got) != 2 || !strings.Contains(got[0], tt.fix) || got[1] != url+"=" {
				t.Errorf("problems reported %v, want the fix then its end", got)
			}
		})
	}
}
