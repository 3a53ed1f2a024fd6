package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/garssl/garssld/internal/starsstest"
)

// TestEvalDoA runs `garssld eval --doa` on a clip in STARSS23's layout and
// reads the report it prints and writes.
func TestEvalDoA(t *testing.T) {
	dir := t.TempDir()
	starsstest.Write(t, dir, "dev-test-sony/fold4_room23_mix001", rand.New(rand.NewPCG(1, 9)), 6.2, 20, []starsstest.Event{
		{Class: 1, Source: 1, From: 0, To: 30, Az: 70, El: 0},
		{Class: 3, Source: 0, From: 30, To: 60, Az: -120, El: 20},
	})
	out := filepath.Join(dir, "report.json")
	var stdout, stderr bytes.Buffer
	code := mainCode(t.Context(), []string{"eval", "--doa", "--mic", filepath.Join(dir, "mic_dev"),
		"--metadata", filepath.Join(dir, "metadata_dev"), "--out", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var rep struct {
		Windows    int      `json:"windows"`
		References int      `json:"references"`
		Err        *float64 `json:"mean_angular_error_deg"`
		Recall     *float64 `json:"recall_within_20deg"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	if rep.Windows != 2 || rep.References != 2 || rep.Err == nil || *rep.Err > 10 || rep.Recall == nil || *rep.Recall != 1 {
		t.Fatalf("report %s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "1/1 dev-test-sony/fold4_room23_mix001.csv") {
		t.Errorf("no progress line: %q", stderr.String())
	}
	if written, err := os.ReadFile(out); err != nil || !bytes.Equal(bytes.TrimSpace(written), bytes.TrimSpace(stdout.Bytes())) {
		t.Errorf("--out: %v\n%s", err, written)
	}
}

func TestEvalDoAUsage(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no directories", []string{"eval", "--doa"}, "--mic and --metadata are required"},
		{"max sources", []string{"eval", "--doa", "--mic", dir, "--metadata", dir, "--max-sources", "0"}, "--max-sources"},
		{"no clips", []string{"eval", "--doa", "--mic", dir, "--metadata", dir}, "no metadata CSV"},
		{"GAR flag", []string{"eval", "--doa", "--mic", dir, "--metadata", dir, "--dataset", "vggss"}, "flag provided but not defined"},
	} {
		var stdout, stderr bytes.Buffer
		if code := mainCode(t.Context(), c.args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", c.name, code, stderr.String(), c.want)
		}
	}
}
