package gar

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseLocate(t *testing.T) {
	const plain = `{"bbox":[10,20,100,120],"description":"a brown dog"}`
	want := LocateAnswer{BBox: Box{10, 20, 100, 120}, Description: "a brown dog"}
	tests := []struct {
		name    string
		text    string
		w, h    int
		want    LocateAnswer
		wantErr error // nil: success
	}{
		{"plain", plain, 224, 224, want, nil},
		{"json code fence", "```json\n" + plain + "\n```", 224, 224, want, nil},
		{"bare code fence on one line", "```" + plain + "```", 224, 224, want, nil},
		{"unclosed fence (truncated after the object)", "```json\n" + plain + "\n", 224, 224, want, nil},
		{"leading and trailing prose", "Sure! Here it is: " + plain + " Let me know if you need more.", 224, 224, want, nil},
		{"assistant header", "assistant\n" + plain, 224, 224, want, nil},
		{"chat template header", "<|im_start|>assistant\n" + plain + "<|im_end|>", 224, 224, want, nil},
		{"numbers as strings", `{"bbox":["10"," 20 ","100.4","1.2e2"],"description":"a brown dog"}`, 224, 224, want, nil},
		{"swapped corners", `{"bbox":[100,120,10,20],"description":"a brown dog"}`, 224, 224, want, nil},
		{"description may be missing", `{"bbox":[10,20,100,120]}`, 224, 224, LocateAnswer{BBox: Box{10, 20, 100, 120}}, nil},
		{"normalised box is scaled", `{"bbox":[0.1,0.2,0.5,0.6],"description":"d"}`, 224, 224,
			LocateAnswer{BBox: Box{22, 45, 112, 134}, Description: "d", Normalised: true}, nil}, // 22.4, 44.8, 112, 134.4
		{"normalised box on a non-square image", `{"bbox":[0,0,1,1]}`, 448, 224,
			LocateAnswer{BBox: Box{0, 0, 447, 223}, Normalised: true}, nil},
		{"tiny image is never normalised", `{"bbox":[0,0,1,1]}`, 2, 2, LocateAnswer{BBox: Box{0, 0, 1, 1}}, nil},
		{"box reaching outside the image is clipped", `{"bbox":[-20,-5,400,300]}`, 224, 224, LocateAnswer{BBox: Box{0, 0, 223, 223}}, nil},
		{"box overlapping the corner is clipped", `{"bbox":[-10,-10,2,2]}`, 224, 224, LocateAnswer{BBox: Box{0, 0, 2, 2}}, nil},
		{"box entirely above and left of the image is invalid", `{"bbox":[-10,-10,-1,-1]}`, 224, 224, LocateAnswer{}, ErrInvalidAnswer},
		{"box entirely right of the image is invalid", `{"bbox":[224,10,300,20]}`, 224, 224, LocateAnswer{}, ErrInvalidAnswer},
		{"box entirely below the image is invalid", `{"bbox":[10,250,20,260]}`, 224, 224, LocateAnswer{}, ErrInvalidAnswer},
		{"a later box inside the image is used", `{"bbox":[-10,-10,-1,-1]} {"bbox":[10,20,100,120],"description":"a brown dog"}`, 224, 224, want, nil},
		{"object form", `{"bbox":{"x1":10,"y1":20,"x2":100,"y2":120},"description":"a brown dog"}`, 224, 224, want, nil},
		{"qwen bbox_2d key", `{"bbox_2d":[10,20,100,120],"description":"a brown dog"}`, 224, 224, want, nil},
		{"braces and quotes inside strings", `{"description":"a {weird} \"dog\" }{ ]","bbox":[10,20,100,120]}`, 224, 224,
			LocateAnswer{BBox: Box{10, 20, 100, 120}, Description: `a {weird} "dog" }{ ]`}, nil},
		{"wrapper object", `{"answer":` + plain + `}`, 224, 224, want, nil},
		{"top-level array", `[` + plain + `]`, 224, 224, want, nil},
		{"template example before the answer", `Use {"bbox":[x1,y1,x2,y2]}. Answer: ` + plain, 224, 224, want, nil},
		{"fence is preferred over an object in prose", `e.g. {"bbox":[1,1,1,1]} ` + "```json\n" + plain + "\n```", 224, 224, want, nil},
		{"trailing comma and Python literal repaired", `{"bbox":[10,20,100,120,],"description":"a brown dog","extra":None,}`, 224, 224, want, nil},
		{"leading plus repaired", `{"bbox":[+10,20,100,120],"description":"a brown dog"}`, 224, 224, want, nil},
		{"later usable object after an unusable one", `{"bbox":[1,2,3]} {"bbox":[10,20,100,120],"description":"a brown dog"}`, 224, 224, want, nil},
		{"NaN literal", `{"bbox":[NaN,20,100,120]}`, 224, 224, LocateAnswer{}, ErrInvalidAnswer},
		{"NaN string", `{"bbox":["NaN",20,100,120]}`, 224, 224, LocateAnswer{}, ErrInvalidAnswer},
		{"infinity string", `{"bbox":["-inf",20,100,120]}`, 224, 224, LocateAnswer{}, ErrInvalidAnswer},
		{"Infinity literal", `{"bbox":[10,20,Infinity,120]}`, 224, 224, LocateAnswer{}, ErrInvalidAnswer},
		{"overflowing number", `{"bbox":[1e999,20,100,120]}`, 224, 224, LocateAnswer{}, ErrInvalidAnswer},
		{"hex string", `{"bbox":["0x10",20,100,120]}`, 224, 224, LocateAnswer{}, ErrInvalidAnswer},
		{"three numbers", `{"bbox":[10,20,100],"description":"d"}`, 224, 224, LocateAnswer{}, ErrInvalidAnswer},
		{"five numbers", `{"bbox":[10,20,100,120,5]}`, 224, 224, LocateAnswer{}, ErrInvalidAnswer},
		{"bbox is a string", `{"bbox":"10,20,100,120"}`, 224, 224, LocateAnswer{}, ErrInvalidAnswer},
		{"truncated JSON", `{"bbox":[10,20,100`, 224, 224, LocateAnswer{}, ErrNoJSON},
		{"empty", ``, 224, 224, LocateAnswer{}, ErrNoJSON},
		{"prose only", `I cannot see any sound source.`, 224, 224, LocateAnswer{}, ErrNoJSON},
		{"single quotes are not JSON", `{'bbox': [10, 20, 100, 120]}`, 224, 224, LocateAnswer{}, ErrNoJSON},
		{"mismatched brackets", `{"bbox":[10,20,100,120}]`, 224, 224, LocateAnswer{}, ErrNoJSON},
		{"array of numbers only", `[10,20,100,120]`, 224, 224, LocateAnswer{}, ErrNoJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLocate(tt.text, tt.w, tt.h)
			checkErr(t, err, tt.wantErr)
			if got != tt.want {
				t.Errorf("ParseLocate = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// checkErr fails unless err matches want (nil meaning success). Every parse
// error must also be an ErrInvalidAnswer, which is what callers count.
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error = %v, want %v", err, want)
	case err != nil && !errors.Is(err, ErrInvalidAnswer):
		t.Fatalf("error %v is not an ErrInvalidAnswer", err)
	}
}

func TestParseAudio(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    AudioAnswer
		wantErr error
	}{
		{"plain, class lowercased", `{"audio_class":"Dog Barking","audio_confidence_score":0.91}`, AudioAnswer{"dog barking", 0.91, true}, nil},
		{"confidence as string with spaces", `{"audio_class":"violin","audio_confidence_score":" 0.8 "}`, AudioAnswer{"violin", 0.8, true}, nil},
		{"confidence above 1 is clipped", `{"audio_class":"violin","audio_confidence_score":85}`, AudioAnswer{"violin", 1, true}, nil},
		{"negative confidence is clipped", `{"audio_class":"violin","audio_confidence_score":-0.2}`, AudioAnswer{"violin", 0, true}, nil},
		{"missing confidence reads as 0", `{"audio_class":"violin"}`, AudioAnswer{"violin", 0, false}, nil},
		{"NaN confidence reads as 0", `{"audio_class":"violin","audio_confidence_score":"NaN"}`, AudioAnswer{"violin", 0, false}, nil},
		{"bare NaN confidence reads as 0", `{"audio_class":"violin","audio_confidence_score":NaN}`, AudioAnswer{"violin", 0, false}, nil},
		{"fenced with prose", "The sound is:\n```json\n{\"audio_class\": \" piano \", \"audio_confidence_score\": \"1\"}\n```", AudioAnswer{"piano", 1, true}, nil},
		{"missing class", `{"audio_confidence_score":0.9}`, AudioAnswer{}, ErrInvalidAnswer},
		{"blank class", `{"audio_class":"  ","audio_confidence_score":0.9}`, AudioAnswer{}, ErrInvalidAnswer},
		{"class not a string", `{"audio_class":7,"audio_confidence_score":0.9}`, AudioAnswer{}, ErrInvalidAnswer},
		{"no JSON", `violin, 0.9`, AudioAnswer{}, ErrNoJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAudio(tt.text)
			checkErr(t, err, tt.wantErr)
			if got != tt.want {
				t.Errorf("ParseAudio = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseAudioCutsLongClass(t *testing.T) {
	long := strings.Repeat("é", 100)
	got, err := ParseAudio(`{"audio_class":"` + long + `","audio_confidence_score":1}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("é", maxClassRunes); got.Class != want {
		t.Errorf("class = %q (%d bytes), want %d runes", got.Class, len(got.Class), maxClassRunes)
	}
}

func TestParseAnalysis(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    AnalysisAnswer
		wantErr error
	}{
		{"full answer",
			`{"av_consistency":0.82,"role_tags":["Dog Head","mouth"],"anchor_votes":[{"anchor":"dog_mouth_open","score":0.9}],"keep":true}`,
			AnalysisAnswer{AVConsistency: 0.82, HasAVConsistency: true, RoleTags: []string{"Dog Head", "mouth"},
				AnchorVotes: []AnchorVote{{"dog_mouth_open", 0.9, true}}, Keep: true, HasKeep: true}, nil},
		{"string false is false", `{"av_consistency":"0.7","keep":"false"}`,
			AnalysisAnswer{AVConsistency: 0.7, HasAVConsistency: true, HasKeep: true}, nil},
		{"string TRUE is true", `{"keep":" TRUE "}`, AnalysisAnswer{Keep: true, HasKeep: true}, nil},
		{"yes is true", `{"keep":"yes"}`, AnalysisAnswer{Keep: true, HasKeep: true}, nil},
		{"no is false", `{"keep":"No"}`, AnalysisAnswer{HasKeep: true}, nil},
		{"number 1 is true", `{"keep":1}`, AnalysisAnswer{Keep: true, HasKeep: true}, nil},
		{"number 0 is false", `{"keep":0}`, AnalysisAnswer{HasKeep: true}, nil},
		{"Python True is true", `{"keep":True}`, AnalysisAnswer{Keep: true, HasKeep: true}, nil},
		{"unreadable keep", `{"keep":"maybe"}`, AnalysisAnswer{}, nil},
		{"number 2 is not a boolean", `{"keep":2}`, AnalysisAnswer{}, nil},
		{"av above 1 is clipped", `{"av_consistency":3}`, AnalysisAnswer{AVConsistency: 1, HasAVConsistency: true}, nil},
		{"bare NaN av is unusable but the trial parses", `{"av_consistency":NaN,"keep":true}`, AnalysisAnswer{Keep: true, HasKeep: true}, nil},
		{"av as text is unusable", `{"av_consistency":"high","keep":false}`, AnalysisAnswer{HasKeep: true}, nil},
		{"messy lists",
			`{"role_tags":["a", 3, "", null, " b "],"anchor_votes":["bare_name",{"anchor":"x","score":"0.5"},{"anchor":"","score":1},{"score":1},{"anchor":"y","score":"NaN"},7]}`,
			AnalysisAnswer{RoleTags: []string{"a", "b"}, AnchorVotes: []AnchorVote{{"bare_name", 0, false}, {"x", 0.5, true}, {"y", 0, false}}}, nil},
		{"anchor score clipped", `{"anchor_votes":[{"anchor":"x","score":-1}]}`,
			AnalysisAnswer{AnchorVotes: []AnchorVote{{"x", 0, true}}}, nil},
		{"no analysis member", `{"foo":1}`, AnalysisAnswer{}, ErrInvalidAnswer},
		{"empty object", `{}`, AnalysisAnswer{}, ErrInvalidAnswer},
		{"truncated", `{"av_consistency":0.8,"role_tags":["a"`, AnalysisAnswer{}, ErrNoJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAnalysis(tt.text)
			checkErr(t, err, tt.wantErr)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseAnalysis = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseAnalysisCapsLists(t *testing.T) {
	tags := make([]string, 40)
	for i := range tags {
		tags[i] = `"t"`
	}
	got, err := ParseAnalysis(`{"role_tags":[` + strings.Join(tags, ",") + `]}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.RoleTags) != maxListEntries {
		t.Errorf("read %d tags, want %d", len(got.RoleTags), maxListEntries)
	}
}

func TestParseRefine(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    RefineAnswer
		wantErr error
	}{
		{"full answer with delta",
			`{"bbox":[12,20,110,130],"changed":true,"ops":{"type":"delta","dx":2,"dy":"-1","dl":0,"dt":0,"dr":8,"db":10},"refined_description":"A dog barks."}`,
			RefineAnswer{BBox: Box{12, 20, 110, 130}, HasBBox: true, Changed: true, HasChanged: true,
				Op: &Op{Type: OpDelta, DX: 2, DY: -1, DR: 8, DB: 10}, RefinedDescription: "A dog barks."}, nil},
		{"ops null", `{"bbox":[12,20,110,130],"changed":false,"ops":null}`,
			RefineAnswer{BBox: Box{12, 20, 110, 130}, HasBBox: true, HasChanged: true}, nil},
		{"ops as string is ignored", `{"changed":"true","ops":"expand"}`,
			RefineAnswer{Changed: true, HasChanged: true}, nil},
		{"op type normalised, missing members are 0", `{"ops":{"type":" Expand ","amount":"6"}}`,
			RefineAnswer{Op: &Op{Type: OpExpand, Amount: 6}}, nil},
		{"unreadable op members are 0", `{"ops":{"type":"delta","dx":"left","dy":NaN}}`,
			RefineAnswer{Op: &Op{Type: OpDelta}}, nil},
		{"recenter target", `{"ops":{"type":"recenter","target":["100", 50.5]}}`,
			RefineAnswer{Op: &Op{Type: OpRecenter, Target: [2]float64{100, 50.5}, HasTarget: true}}, nil},
		{"recenter bad target", `{"ops":{"type":"recenter","target":[100]}}`,
			RefineAnswer{Op: &Op{Type: OpRecenter}}, nil},
		{"unknown op type kept for the caller to ignore", `{"ops":{"type":"rotate"}}`,
			RefineAnswer{Op: &Op{Type: "rotate"}}, nil},
		{"changed string false", `{"changed":"false","bbox":[0.1,0.1,0.2,0.2]}`,
			RefineAnswer{BBox: Box{22, 22, 45, 45}, HasBBox: true, Normalised: true, HasChanged: true}, nil}, // 22.4, 44.8
		{"unusable bbox is dropped", `{"bbox":[1,2],"changed":true}`,
			RefineAnswer{Changed: true, HasChanged: true}, nil},
		{"bbox outside the image is dropped", `{"bbox":[-10,-10,-1,-1],"changed":true}`,
			RefineAnswer{Changed: true, HasChanged: true}, nil},
		{"only a bbox outside the image", `{"bbox":[300,300,400,400]}`,
			RefineAnswer{}, nil},
		{"description only", `{"refined_description":"nothing to change"}`,
			RefineAnswer{RefinedDescription: "nothing to change"}, nil},
		{"no refine member", `{"keep":true}`, RefineAnswer{}, ErrInvalidAnswer},
		{"nothing", `   `, RefineAnswer{}, ErrNoJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRefine(tt.text, 224, 224)
			checkErr(t, err, tt.wantErr)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseRefine = %+v (op %+v), want %+v (op %+v)", got, got.Op, tt.want, tt.want.Op)
			}
		})
	}
}

func TestParseLocateMulti(t *testing.T) {
	a := `{"bbox":[10,20,100,120],"description":"violin"}`
	b := `{"bbox":[120,30,200,210],"description":"piano"}`
	bad := `{"bbox":[1,2,3],"description":"broken"}`
	two := []LocateAnswer{
		{BBox: Box{10, 20, 100, 120}, Description: "violin"},
		{BBox: Box{120, 30, 200, 210}, Description: "piano"},
	}
	tests := []struct {
		name    string
		text    string
		k       int
		want    []LocateAnswer
		wantErr error
	}{
		{"sources object", `{"sources":[` + a + `,` + b + `]}`, 2, two, nil},
		{"top-level array", "```json\n[" + a + "," + b + "]\n```", 2, two, nil},
		{"extra entries ignored", `{"sources":[` + a + `,` + b + `,` + bad + `]}`, 2, two, nil},
		{"k=1 single shape", a, 1, two[:1], nil},
		{"k=1 sources shape", `{"sources":[` + a + `]}`, 1, two[:1], nil},
		{"too few", `{"sources":[` + a + `]}`, 2, nil, ErrInvalidAnswer},
		{"one bad entry", `{"sources":[` + a + `,` + bad + `]}`, 2, nil, ErrInvalidAnswer},
		{"one box outside the image", `{"sources":[` + a + `,{"bbox":[-50,-50,-2,-2],"description":"nothing"}]}`, 2, nil, ErrInvalidAnswer},
		{"single shape is not enough for k=2", a, 2, nil, ErrInvalidAnswer},
		{"not JSON", `two sources`, 2, nil, ErrNoJSON},
		{"k=0", a, 0, nil, errBadSourceCount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLocateMulti(tt.text, 224, 224, tt.k)
			if tt.wantErr == errBadSourceCount {
				if !errors.Is(err, errBadSourceCount) {
					t.Fatalf("error = %v, want %v", err, errBadSourceCount)
				}
				return
			}
			checkErr(t, err, tt.wantErr)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseLocateMulti = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseAudioMulti(t *testing.T) {
	text := `{"sources":[{"audio_class":"Violin","audio_confidence_score":"0.7"},{"audio_class":"piano","audio_confidence_score":1.4}]}`
	got, err := ParseAudioMulti(text, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []AudioAnswer{{"violin", 0.7, true}, {"piano", 1, true}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseAudioMulti = %+v, want %+v", got, want)
	}
	arr := `[{"audio_class":"violin","audio_confidence_score":0.7},{"audio_class":"piano"}]`
	got, err = ParseAudioMulti(arr, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []AudioAnswer{{"violin", 0.7, true}, {"piano", 0, false}}; !reflect.DeepEqual(got, want) {
		t.Errorf("ParseAudioMulti(array) = %+v, want %+v", got, want)
	}
	if _, err := ParseAudioMulti(`{"sources":[{"audio_class":"violin"},{"audio_confidence_score":1}]}`, 2); !errors.Is(err, ErrInvalidAnswer) {
		t.Errorf("missing class in one entry: error = %v, want ErrInvalidAnswer", err)
	}
}

func TestParseBoundsWork(t *testing.T) {
	// Adversarial nesting must neither blow the stack nor take quadratic
	// time; 64 KiB of '{' is cut and scanned a bounded number of times.
	text := strings.Repeat("{", 1<<20)
	if _, err := ParseLocate(text, 224, 224); !errors.Is(err, ErrNoJSON) {
		t.Errorf("error = %v, want ErrNoJSON", err)
	}
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	if _, err := ParseLocateMulti(deep, 224, 224, 2); !errors.Is(err, ErrInvalidAnswer) {
		t.Errorf("error = %v, want ErrInvalidAnswer", err)
	}
}
