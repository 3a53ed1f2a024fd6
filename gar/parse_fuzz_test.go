package gar

import (
	"errors"
	"math"
	"testing"
	"unicode/utf8"
)

// malformedZoo seeds the fuzzers with the shapes models actually produce.
var malformedZoo = []string{
	``,
	`{}`,
	`[]`,
	`{"bbox":[10,20,100,120],"description":"a dog"}`,
	"```json\n{\"bbox\":[10,20,100,120]}\n```",
	"```json\n{\"bbox\":[10,20,100",
	"<|im_start|>assistant\n{\"audio_class\":\"violin\",\"audio_confidence_score\":\"0.8\"}<|im_end|>",
	"assistant\nSure: {\"av_consistency\":\" 0.7 \",\"role_tags\":[\"a b\",\"a-b\"],\"anchor_votes\":[{\"anchor\":\"x\",\"score\":\"1\"}],\"keep\":\"false\"}",
	`{"bbox":[0.1,0.2,0.5,0.6]}`,
	`{"bbox":[100,120,10,20]}`,
	`{"bbox":[NaN,1,2,3],"av_consistency":Infinity,"keep":-inf}`,
	`{"bbox":["1e999","-1e999",0,0]}`,
	`{"description":"a {weird} \"}\" name","bbox":{"x1":1,"y1":2,"x2":3,"y2":4}}`,
	`{"bbox":[1,2,3,4],"changed":"no","ops":{"type":"recenter","target":["1e308",-1e308]},"refined_description":"x"}`,
	`{"ops":{"type":"DELTA","dx":"+5","dl":-1e300,"db":1e300}}`,
	`{"ops":{"type":"expand","amount":1e308},"changed":1}`,
	`{"sources":[{"bbox":[1,2,3,4],"audio_class":"a"},{"bbox":[5,6,7,8],"audio_class":"b"}]}`,
	`[{"bbox":[1,2,3,4]},{"bbox":[5,6,7,8]}]`,
	`{"keep":True,"role_tags":["é-é  é",],}`,
	`{{{{[[[[`,
	`}{][`,
	"{\"a\":\"\\\"}\"}",
	"{\"bbox\":[1,2,3,4],\"description\":\"\xff\xfe\"}",
}

func fuzzSize(n uint16) int { return int(n%4096) + 1 }

// checkBox asserts the clip invariants for a box in a w×h image.
func checkBox(t *testing.T, b Box, w, h int) {
	t.Helper()
	if b[0] < 0 || b[1] < 0 || b[2] > w-1 || b[3] > h-1 || b[0] > b[2] || b[1] > b[3] {
		t.Fatalf("box %v outside [0,%d]x[0,%d] or unordered", b, w-1, h-1)
	}
	// A collapsed side may only remain on the far edge (design §3.5 clip).
	if (w >= 2 && b[0] == b[2] && b[0] != w-1) || (h >= 2 && b[1] == b[3] && b[1] != h-1) {
		t.Fatalf("box %v is empty away from the far edge in a %dx%d image", b, w, h)
	}
}

func checkParseErr(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrInvalidAnswer) {
		t.Fatalf("error %v is not an ErrInvalidAnswer", err)
	}
}

func FuzzParseLocate(f *testing.F) {
	for _, s := range malformedZoo {
		f.Add(s, uint16(223), uint16(223))
		f.Add(s, uint16(1), uint16(0))
	}
	f.Fuzz(func(t *testing.T, text string, rw, rh uint16) {
		w, h := fuzzSize(rw), fuzzSize(rh)
		ans, err := ParseLocate(text, w, h)
		checkParseErr(t, err)
		if err == nil {
			checkBox(t, ans.BBox, w, h)
			if !utf8.ValidString(ans.Description) || utf8.RuneCountInString(ans.Description) > maxDescriptionRunes {
				t.Fatalf("description %q", ans.Description)
			}
		}
	})
}

func FuzzParseLocateMulti(f *testing.F) {
	for _, s := range malformedZoo {
		f.Add(s, uint16(223), uint16(223), uint8(2))
	}
	f.Fuzz(func(t *testing.T, text string, rw, rh uint16, rk uint8) {
		w, h, k := fuzzSize(rw), fuzzSize(rh), int(rk%4)+1
		got, err := ParseLocateMulti(text, w, h, k)
		checkParseErr(t, err)
		if err == nil {
			if len(got) != k {
				t.Fatalf("got %d sources, want %d", len(got), k)
			}
			for _, a := range got {
				checkBox(t, a.BBox, w, h)
			}
		}
	})
}

func FuzzParseAudio(f *testing.F) {
	for _, s := range malformedZoo {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ans, err := ParseAudio(text)
		checkParseErr(t, err)
		if err == nil {
			if ans.Class == "" || utf8.RuneCountInString(ans.Class) > maxClassRunes || !utf8.ValidString(ans.Class) {
				t.Fatalf("class %q", ans.Class)
			}
			if !(ans.Confidence >= 0 && ans.Confidence <= 1) {
				t.Fatalf("confidence %v", ans.Confidence)
			}
		}
		if multi, err := ParseAudioMulti(text, 2); err == nil {
			for _, a := range multi {
				if a.Class == "" || !(a.Confidence >= 0 && a.Confidence <= 1) {
					t.Fatalf("multi answer %+v", a)
				}
			}
		}
	})
}

func FuzzParseAnalysis(f *testing.F) {
	for _, s := range malformedZoo {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ans, err := ParseAnalysis(text)
		checkParseErr(t, err)
		if err != nil {
			return
		}
		if !(ans.AVConsistency >= 0 && ans.AVConsistency <= 1) {
			t.Fatalf("av %v", ans.AVConsistency)
		}
		for _, v := range ans.AnchorVotes {
			if !(v.Score >= 0 && v.Score <= 1) {
				t.Fatalf("anchor score %v", v.Score)
			}
		}
		c := Consensus([]AnalysisAnswer{ans, ans, {}})
		if !(c.AV >= 0 && c.AV <= 1) || len(c.RoleTags) > maxRoleTags || len(c.Anchors) > maxAnchors {
			t.Fatalf("consensus %+v", c)
		}
		for _, name := range c.RoleTags {
			checkName(t, name)
		}
		for _, a := range c.Anchors {
			checkName(t, a.Anchor)
			if !(a.Score >= 0 && a.Score <= 1) {
				t.Fatalf("anchor %+v", a)
			}
		}
		if c.Keep != (ans.HasKeep && ans.Keep) { // 2 of 3 votes, or 0
			t.Fatalf("keep %v from trial keep %v", c.Keep, ans.Keep)
		}
	})
}

func checkName(t *testing.T, name string) {
	t.Helper()
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxNameRunes || name[0] == '_' {
		t.Fatalf("bad normalised name %q", name)
	}
}

func FuzzParseRefine(f *testing.F) {
	for _, s := range malformedZoo {
		f.Add(s, uint16(223), uint16(223), int16(50), int16(60), int16(150), int16(160))
	}
	f.Fuzz(func(t *testing.T, text string, rw, rh uint16, x1, y1, x2, y2 int16) {
		w, h := fuzzSize(rw), fuzzSize(rh)
		ans, err := ParseRefine(text, w, h)
		checkParseErr(t, err)
		if err == nil && ans.HasBBox {
			checkBox(t, ans.BBox, w, h)
		}
		initial := Clip([4]float64{float64(x1), float64(y1), float64(x2), float64(y2)}, w, h)
		out := DecideRefinedBox(initial, ans, w, h)
		checkBox(t, out.Box, w, h)
		d := MaxDeltaPx(w, h)
		for i := range out.Box {
			if diff := out.Box[i] - initial[i]; diff > d || diff < -d {
				t.Fatalf("side %d moved %d px (limit %d): %v -> %v", i, diff, d, initial, out.Box)
			}
		}
		if ans.HasChanged && !ans.Changed && out.Box != initial {
			t.Fatalf("changed=false but box moved: %v -> %v", initial, out.Box)
		}
	})
}

func FuzzClip(f *testing.F) {
	f.Add(10.4, 20.6, 100.5, 200.49, uint16(223), uint16(223))
	f.Add(math.NaN(), math.Inf(1), math.Inf(-1), -0.5, uint16(0), uint16(1))
	f.Add(1e300, -1e300, 223.0, 223.0, uint16(223), uint16(223))
	f.Fuzz(func(t *testing.T, x1, y1, x2, y2 float64, rw, rh uint16) {
		w, h := fuzzSize(rw), fuzzSize(rh)
		b := Clip([4]float64{x1, y1, x2, y2}, w, h)
		checkBox(t, b, w, h)
		if again := Clip(b.Float(), w, h); again != b {
			t.Fatalf("Clip is not idempotent: %v -> %v", b, again)
		}
	})
}
