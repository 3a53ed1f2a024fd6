package starss_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/garssl/garssld/eval/starss"
	"github.com/garssl/garssld/internal/arraysim"
	"github.com/garssl/garssld/internal/starsstest"
)

// TestEvaluateSynthetic writes two clips in the development set's layout
// and format (16-bit 24 kHz 4-channel WAV under mic_dev/, CSV under
// metadata_dev/) and checks that the evaluation localises their sources.
func TestEvaluateSynthetic(t *testing.T) {
	if testing.Short() {
		t.Skip("renders reverberant clips")
	}
	rng := rand.New(rand.NewPCG(4, 2))
	dir := t.TempDir()
	starsstest.Write(t, dir, "dev-test-sony/fold4_room23_mix001", rng, 12.5, 20, []starsstest.Event{
		{Class: 1, Source: 1, From: 0, To: 60, Az: 60, El: 10},      // windows 0 and 1
		{Class: 8, Source: 0, From: 30, To: 120, Az: -100, El: -20}, // windows 1 to 3
	})
	starsstest.Write(t, dir, "dev-test-tau/fold4_room2_mix003", rng, 9, 20, []starsstest.Event{
		{Class: 0, Source: 2, From: 0, To: 30, Az: 150, El: 25},
		{Class: 6, Source: 3, From: 30, To: 60, Az: -30, El: -5},
		// window 2 (frames 60–89) holds no event: only sensor noise
	})
	var seen []string
	rep, err := starss.Evaluate(context.Background(), filepath.Join(dir, "mic_dev"), filepath.Join(dir, "metadata_dev"), starss.Options{},
		func(clip string, done, total int) { seen = append(seen, fmt.Sprintf("%s %d/%d", clip, done, total)) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v error %.2f° recall %.2f; progress %q", *rep, *rep.MeanAngularErrorDeg, *rep.RecallWithin20Deg, seen)
	// 12.5 s gives 4 whole windows, 9 s gives 3.
	if rep.Clips != 2 || rep.Windows != 7 || rep.WindowsWithSources != 6 || rep.References != 7 || rep.WindowsWithoutSources != 1 || len(seen) != 2 {
		t.Errorf("counts: %+v, want 2 clips, 7 windows, 6 with sources, 7 references, 1 without", *rep)
	}
	if rep.WindowsWithoutSourcesWithDirection != 0 {
		t.Errorf("a direction in the window of sensor noise alone")
	}
	if *rep.MeanAngularErrorDeg > 10 {
		t.Errorf("mean angular error %.2f° > 10°", *rep.MeanAngularErrorDeg)
	}
	if *rep.RecallWithin20Deg < 0.85 {
		t.Errorf("recall within 20° %.2f < 0.85", *rep.RecallWithin20Deg)
	}
}

func TestReferencesAndMatch(t *testing.T) {
	rows := []starss.Row{
		{Frame: 0, Class: 1, Source: 1, AzimuthDeg: 90, ElevationDeg: 0},    // left: bearing −90
		{Frame: 1, Class: 1, Source: 1, AzimuthDeg: 80, ElevationDeg: 0},    // moving
		{Frame: 1, Class: 8, Source: 0, AzimuthDeg: -180, ElevationDeg: 40}, // behind, up
	}
	refs := starss.References(rows)
	if len(refs) != 2 || math.Abs(refs[0].BearingDeg+85) > 1e-9 || math.Abs(refs[1].BearingDeg-180) > 1e-9 || math.Abs(refs[1].ElevationDeg-40) > 1e-9 {
		t.Fatalf("references %+v, want bearing −85 and 180 up 40", refs)
	}
	// Greedy matching would pair the first prediction with the nearer
	// reference and leave the second a 100° error; the assignment does not.
	preds := []starss.Direction{{BearingDeg: -60}, {BearingDeg: 20}}
	refs = []starss.Direction{{BearingDeg: -50}, {BearingDeg: -110}}
	got := starss.Match(preds, refs)
	if len(got) != 2 || math.Abs(got[0]+got[1]-(50+70)) > 1e-9 {
		t.Fatalf("matched angles %v, want 50° and 70° (total 120°)", got)
	}
	if a := starss.Angle(starss.Direction{BearingDeg: 170, ElevationDeg: 0}, starss.Direction{BearingDeg: -170, ElevationDeg: 0}); math.Abs(a-20) > 1e-9 {
		t.Fatalf("angle across ±180°: %g", a)
	}
}

func TestReadMetadata(t *testing.T) {
	good := "10,     1,  1,  -50,  30\n11, 1, 1, -50, 30, 180\n\n"
	rows, err := starss.ReadMetadata(strings.NewReader(good), "x.csv")
	if err != nil || len(rows) != 2 || rows[0].Frame != 10 || rows[0].Bearing() != 50 || rows[1].ElevationDeg != 30 {
		t.Fatalf("%+v, %v", rows, err)
	}
	if b := (starss.Row{AzimuthDeg: 180}).Bearing(); b != 180 {
		t.Fatalf("bearing of 180: %g, want 180 (in (−180, 180])", b)
	}
	for _, bad := range []string{"1,2,3,4\n", "a,1,1,0,0\n", "1.5,1,1,0,0\n", "-1,1,1,0,0\n", "1,1,1,190,0\n", "1,1,1,0,-91\n"} {
		if _, err := starss.ReadMetadata(strings.NewReader("0,0,0,0,0\n"+bad), "x.csv"); err == nil || !strings.Contains(err.Error(), "x.csv:2:") {
			t.Errorf("%q: %v, want an error at x.csv:2", bad, err)
		}
	}
}

func TestReadWAV(t *testing.T) {
	ch := [][]float32{{0, 0.5, -0.5, 0.25}, {1, -1, 0.125, 0}}
	var b bytes.Buffer
	if err := arraysim.WriteWAV16(&b, 24000, ch); err != nil {
		t.Fatal(err)
	}
	rate, got, err := starss.ReadWAV(bytes.NewReader(b.Bytes()))
	if err != nil || rate != 24000 || len(got) != 2 || len(got[0]) != 4 {
		t.Fatalf("%d %v %v", rate, got, err)
	}
	for c := range ch {
		for i := range ch[c] {
			if math.Abs(float64(got[c][i]-ch[c][i])) > 1.0/32000 {
				t.Errorf("channel %d sample %d: %g, want %g", c, i, got[c][i], ch[c][i])
			}
		}
	}
	// 24-bit extensible with a LIST chunk before the data, as many tools write
	w24 := wav24(t, []int32{0x7fffff, -0x800000, 0x400000, 0})
	_, got, err = starss.ReadWAV(bytes.NewReader(w24))
	if err != nil || len(got) != 2 || got[0][0] < 0.9999 || got[1][0] != -1 || got[0][1] != 0.5 {
		t.Fatalf("24-bit: %v %v", got, err)
	}
	for _, bad := range [][]byte{nil, []byte("RIFF\x00\x00\x00\x00WAVX"), b.Bytes()[:20], append(append([]byte{}, b.Bytes()[:36]...), []byte("junk")...)} {
		if _, _, err := starss.ReadWAV(bytes.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func wav24(t *testing.T, interleaved []int32) []byte {
	t.Helper()
	var data []byte
	for _, v := range interleaved {
		u := uint32(v)
		data = append(data, byte(u), byte(u>>8), byte(u>>16))
	}
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("RIFF")
	_ = binary.Write(&b, le, uint32(4+8+40+8+4+8+len(data)))
	b.WriteString("WAVEfmt ")
	_ = binary.Write(&b, le, uint32(40))
	_ = binary.Write(&b, le, uint16(0xFFFE))
	_ = binary.Write(&b, le, uint16(2))
	_ = binary.Write(&b, le, uint32(24000))
	_ = binary.Write(&b, le, uint32(24000*6))
	_ = binary.Write(&b, le, uint16(6))
	_ = binary.Write(&b, le, uint16(24))
	_ = binary.Write(&b, le, uint16(22))
	_ = binary.Write(&b, le, uint16(24))
	_ = binary.Write(&b, le, uint32(3))
	b.Write([]byte{1, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71})
	b.WriteString("LIST")
	_ = binary.Write(&b, le, uint32(4))
	b.WriteString("INFO")
	b.WriteString("data")
	_ = binary.Write(&b, le, uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

func TestEvaluateErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := starss.Evaluate(context.Background(), dir, dir, starss.Options{}, nil); !errors.Is(err, starss.ErrNoClips) {
		t.Errorf("empty tree: %v, want ErrNoClips", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.csv"), []byte("0,0,0,0,0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := starss.Evaluate(context.Background(), filepath.Join(dir, "mic"), dir, starss.Options{}, nil); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing recording: %v", err)
	}
}
