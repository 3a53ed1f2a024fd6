package gar_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/garssl/garssld/gar"
)

// iou of two inclusive pixel boxes.
func iou(a, b gar.Box) float64 {
	ix := min(a[2], b[2]) - max(a[0], b[0]) + 1
	iy := min(a[3], b[3]) - max(a[1], b[1]) + 1
	if ix <= 0 || iy <= 0 {
		return 0
	}
	area := func(r gar.Box) int { return (r[2] - r[0] + 1) * (r[3] - r[1] + 1) }
	inter := ix * iy
	return float64(inter) / float64(area(a)+area(b)-inter)
}

// TestRefinementMovesTheBoxTowardTheTruth: omnisim's locate misses the red
// rectangle on purpose (its truth sidecar's locate_error), so the loop
// starts at a wrong box; analysis sees the poor fit and the gate sends the
// source to refinement, whose answer must move every side toward the
// rectangle. A loop that skips refinement, throws its answer away or fails
// to read it ends where it started and fails here.
func TestRefinementMovesTheBoxTowardTheTruth(t *testing.T) {
	truth := gar.Box{redRect.Min.X, redRect.Min.Y, redRect.Max.X - 1, redRect.Max.Y - 1}
	tests := []struct{ name, locateError string }{
		{"offset", `{"offset":[30,20]}`},
		{"scaled up", `{"scale":1.6}`},
		{"scaled down and offset", `{"scale":0.6,"offset":[-20,10]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			truthFile := filepath.Join(t.TempDir(), "truth.json")
			sidecar := fmt.Sprintf(`{"target_rgb":[255,0,0],"audio_class":"beep","audio_confidence":0.95,"locate_error":%s}`, tt.locateError)
			if err := os.WriteFile(truthFile, []byte(sidecar), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := simConfig(1)
			cfg.TruthFile = truthFile
			s := startSim(t, cfg, nil)
			// The paper's gate, unchanged: the poor fit alone sends the
			// source to refinement.
			res := localize(t, newLocalizer(t, gar.Config{SupportsN: true}, newClient(t, s.clientConfig())), testInput(t, 7, 0))
			if res.Status != gar.StatusOK || len(res.Sources) != 1 {
				t.Fatalf("status %s, err %v, %d sources", res.Status, res.Err, len(res.Sources))
			}
			src := res.Sources[0]
			initial, final := src.InitialBBoxModel, src.BBoxModel
			if iou(initial, truth) > 0.8 {
				t.Fatalf("locate answered %v, already at the truth %v: the test would prove nothing", initial, truth)
			}
			if !src.Refined || src.Gate.SkipRefine {
				t.Fatalf("refined %v (gate: %s); a box this far off must be refined", src.Refined, src.Gate.Reason)
			}
			var before, after int
			for i := range 4 {
				d0, d1 := abs(initial[i]-truth[i]), abs(final[i]-truth[i])
				if d1 > d0 {
					t.Errorf("side %d moved away from the truth: %d → %d (truth %d)", i, initial[i], final[i], truth[i])
				}
				before, after = before+d0, after+d1
			}
			if after >= before || iou(final, truth) <= iou(initial, truth) {
				t.Errorf("refinement did not move the box toward the truth: %v (IoU %.2f) → %v (IoU %.2f), truth %v",
					initial, iou(initial, truth), final, iou(final, truth), truth)
			}
			if !src.Changed {
				t.Errorf("changed is false although the box moved %v → %v", initial, final)
			}
		})
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
