package dataset

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/garssl/garssld/eval/metrics"
)

// RealVGGSS is the published vggss.json, kept in the repository.
func realVGGSS(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "vggss", "vggss.json")
}

func TestLoadRealVGGSS(t *testing.T) {
	a, err := Load(VGGSS, realVGGSS(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Samples) != 5158 {
		t.Fatalf("%d samples, want 5158", len(a.Samples))
	}
	single, classes := 0, map[string]bool{}
	for _, s := range a.Samples {
		if len(s.Sources) == 1 {
			single++
		}
		classes[s.Classes()] = true
		if got, ok := a.Lookup(s.ID); !ok || got.ID != s.ID {
			t.Fatalf("Lookup(%q) failed", s.ID)
		}
	}
	if single != 4619 || len(classes) != 221 {
		t.Errorf("%d clips with one box, %d classes; want 4619 and 221", single, len(classes))
	}
	// Quirks survive as written.
	quirks := map[string][4]float64{
		"M1P1xla8rg0_000000": {0.26875, 1.0, 0.753125, 1.0},
		"MKC9LvRivTM_000030": {0.396875, 0.6625, -2.8823037615171176e+16, 0.984375},
		"P-NCCepeHdI_000125": {0, 0.38125, 0.30625, -2.8823037615171176e+16}, // an integer literal 0
	}
	for id, want := range quirks {
		s, ok := a.Lookup(id)
		if !ok || s.Sources[0].Box.V != want || s.Sources[0].Box.Format != metrics.XYXY {
			t.Errorf("%s: %+v, want first box %v", id, s, want)
		}
	}
	if s, _ := a.Lookup("sYIymaJi6tc_000090"); len(s.Sources) != 4 {
		t.Errorf("sYIymaJi6tc_000090 has %d boxes, want 4", len(s.Sources))
	}
	if i, ok := a.Index("zpWuikVorYg_000032"); !ok || i != 0 {
		t.Errorf("Index of the first entry = %d, %v", i, ok)
	}
}

// TestRealVGGSSTruncationIsThePublishedOne checks the package doc's claim
// that snapping near-integers changes no coordinate of the real file.
func TestRealVGGSSTruncationIsThePublishedOne(t *testing.T) {
	a, err := Load(VGGSS, realVGGSS(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range a.Samples {
		for _, src := range s.Sources {
			x1, y1, x2, y2 := metrics.StandardRect(src.Box)
			for i, got := range []int{x1, y1, x2, y2} {
				v := min(max(src.Box.V[i], 0), 1)
				if plain := int(224 * v); plain != got {
					t.Errorf("%s: coordinate %v truncates to %d, int(224·v) = %d", s.ID, src.Box.V[i], got, plain)
				}
			}
		}
	}
}

func TestReadFormats(t *testing.T) {
	solo := `[{"file":"a_00012.jpg","class":"violin","bbox":[0.1,0.2,0.3,0.4]}]`
	a, err := Read(MUSICSolo, "solo.json", []byte(solo))
	if err != nil {
		t.Fatal(err)
	}
	want := Source{Class: "violin", Box: metrics.NormBox{Format: metrics.XYWH, V: [4]float64{0.1, 0.2, 0.3, 0.4}}}
	if len(a.Samples) != 1 || a.Samples[0].ID != "a_00012.jpg" || a.Samples[0].Sources[0] != want {
		t.Errorf("MUSIC-Solo read as %+v", a.Samples)
	}
	duet := `[{"file":"d1","class_src1":"dog","bbox_src1":[0,0,0.5,1],"class_src2":"cat","bbox_src2":[0.5,0,0.5,1],"extra":1}]`
	for _, k := range []Kind{VGGSSDuet, MUSICDuet} {
		a, err := Read(k, "duet.json", []byte(duet))
		if err != nil {
			t.Fatal(err)
		}
		s := a.Samples[0]
		if len(s.Sources) != 2 || s.Sources[0].Class != "dog" || s.Sources[1].Box.V != [4]float64{0.5, 0, 0.5, 1} || s.Classes() != "dog + cat" {
			t.Errorf("%s read as %+v", k, s)
		}
	}
	v, err := Read(VGGSS, "v.json", []byte(`[{"file":"x_000001","class":"c","bbox":[]}]`))
	if err != nil || len(v.Samples[0].Sources) != 0 {
		t.Errorf("a clip without boxes should read as empty GT: %+v, %v", v, err)
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		data string
		want []string
	}{
		{"syntax error with position", VGGSS, "[\n{\"file\": \"a\",\n \"bbox\": [[0,0,1,1]],}\n]", []string{"bad.json", "line 3, column 22"}},
		{"not an array", VGGSS, `{"file":"a"}`, []string{"not a JSON array"}},
		{"empty array", VGGSS, `[]`, []string{"no entries"}},
		{"missing file", VGGSS, `[{"class":"c","bbox":[[0,0,1,1]]}]`, []string{`entry 0`, `no "file"`}},
		{"file not a string", VGGSS, `[{"file":3,"bbox":[[0,0,1,1]]}]`, []string{`entry 0`, `string "file"`}},
		{"duplicate file", VGGSS, `[{"file":"a","bbox":[]},{"file":"b","bbox":[]},{"file":"a","bbox":[]}]`, []string{`entries 0 and 2`, `"a"`}},
		{"path escape", VGGSS, `[{"file":"../etc/passwd","bbox":[]}]`, []string{`"../etc/passwd"`, "plain relative name"}},
		{"absolute path", MUSICSolo, `[{"file":"/tmp/x","bbox":[0,0,1,1]}]`, []string{"plain relative name"}},
		{"box with 3 numbers", VGGSS, `[{"file":"a","bbox":[[0,0,1]]}]`, []string{`file "a"`, "bbox[0]", "3 numbers, want 4"}},
		{"box with a string", VGGSS, `[{"file":"a","bbox":[[0,"0",1,1]]}]`, []string{"bbox[0]", "not a list of 4 numbers"}},
		{"MUSIC file read as VGG-SS", VGGSS, `[{"file":"a","bbox":[0.1,0.2,0.3,0.4]}]`, []string{"--dataset music-solo"}},
		{"VGG-SS file read as MUSIC", MUSICSolo, `[{"file":"a","bbox":[[0.1,0.2,0.3,0.4]]}]`, []string{"--dataset vggss"}},
		{"duet file read as single", VGGSS, `[{"file":"a","bbox_src1":[0,0,1,1],"bbox_src2":[0,0,1,1]}]`, []string{`no "bbox"`, "vggss-duet"}},
		{"single file read as duet", MUSICDuet, `[{"file":"a","bbox":[0,0,1,1]}]`, []string{`no "bbox_src1"`, "--dataset vggss or music-solo"}},
		{"second duet box missing", VGGSSDuet, `[{"file":"a","bbox_src1":[0,0,1,1]}]`, []string{`no "bbox_src2"`}},
		{"number out of range", MUSICSolo, `[{"file":"a","bbox":[0,0,1e400,1]}]`, []string{"not a list of 4 numbers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(tt.kind, "bad.json", []byte(tt.data))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := Load(VGGSS, filepath.Join(t.TempDir(), "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("Load of a missing file: %v", err)
	}
	if _, err := ParseKind("vgg"); err == nil || !strings.Contains(err.Error(), "music-duet") {
		t.Errorf("ParseKind: %v", err)
	}
}

func TestInputNames(t *testing.T) {
	if got := VGGSS.FrameNames("abc_000010"); strings.Join(got, ",") != "abc_000010.jpg,abc_000010.png" {
		t.Errorf("FrameNames = %v", got)
	}
	if got := MUSICSolo.FrameNames("clip_00012.jpg"); len(got) != 1 || got[0] != "clip_00012.jpg" {
		t.Errorf("FrameNames of an id with extension = %v", got)
	}
	got := MUSICSolo.AudioNames("clip_00012.jpg")
	if got[0] != "clip_00012.wav" || !contains(got, "clip.wav") {
		t.Errorf("MUSIC AudioNames = %v, want clip_00012.wav first and the id minus 10 characters (clip.wav)", got)
	}
	if contains(VGGSS.AudioNames("abcdefghijk_000010"), "abcdefghijk.wav") {
		t.Error("VGG-SS audio ids keep their whole id")
	}
	if got := VGGSSDuet.VideoNames("d1"); got[0] != "d1.mp4" {
		t.Errorf("VideoNames = %v", got)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func FuzzRead(f *testing.F) {
	f.Add(string(VGGSS), `[{"file":"a","class":"c","bbox":[[0,0,1,1],[0.5,-2e16,0.2,1]]}]`)
	f.Add(string(MUSICSolo), `[{"file":"a_00012.jpg","class":"c","bbox":[0.1,0.2,0.3,0.4]}]`)
	f.Add(string(VGGSSDuet), `[{"file":"d","class_src1":"a","bbox_src1":[0,0,0.5,1],"class_src2":"b","bbox_src2":[0.5,0,0.5,1]}]`)
	f.Add(string(MUSICDuet), `[{"file":"d","bbox_src1":[0,0,0.5,1],"bbox_src2":[1,1,1,1]},{"file":"e","bbox_src1":[0,0,0,0],"bbox_src2":[0,0,0,0]}]`)
	f.Add(string(VGGSS), "[{\"file\":\"a\",\"bbox\":[[0,0,1,1]]},")
	f.Fuzz(func(t *testing.T, kind, data string) {
		k, err := ParseKind(kind)
		if err != nil {
			return
		}
		a, err := Read(k, "fuzz.json", []byte(data))
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.json") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for i, s := range a.Samples {
			if j, ok := a.Index(s.ID); !ok || j != i {
				t.Fatalf("sample %d (%q) indexed at %d, %v", i, s.ID, j, ok)
			}
			if checkID(s.ID) != nil {
				t.Fatalf("accepted id %q", s.ID)
			}
			if k != VGGSS && len(s.Sources) != k.Sources() {
				t.Fatalf("%s sample with %d sources", k, len(s.Sources))
			}
			for _, src := range s.Sources {
				if src.Box.Format != k.Format() {
					t.Fatalf("box format %v for %s", src.Box.Format, k)
				}
			}
		}
	})
}
