package dataset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/garssl/garssld/eval/metrics"
)

// Kind is one of the benchmarks.
type Kind string

// The benchmarks of the paper's Tables 1 and 2.
const (
	VGGSS     Kind = "vggss"
	MUSICSolo Kind = "music-solo"
	VGGSSDuet Kind = "vggss-duet"
	MUSICDuet Kind = "music-duet"
)

// Kinds lists every Kind, in the paper's order.
var Kinds = []Kind{VGGSS, MUSICSolo, VGGSSDuet, MUSICDuet}

// ParseKind accepts the names of Kinds.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("dataset %q: use one of vggss, music-solo, vggss-duet, music-duet", s)
}

// Sources is the number of sound sources a sample has: 2 for duets, else 1.
func (k Kind) Sources() int {
	if k.Duet() {
		return 2
	}
	return 1
}

// Duet reports a two-source benchmark.
func (k Kind) Duet() bool { return k == VGGSSDuet || k == MUSICDuet }

// Format is how the benchmark writes boxes.
func (k Kind) Format() metrics.Format {
	if k == VGGSS {
		return metrics.XYXY
	}
	return metrics.XYWH
}

// Title is the benchmark's name in the paper.
func (k Kind) Title() string {
	switch k {
	case VGGSS:
		return "VGGSound-Single"
	case MUSICSolo:
		return "MUSIC-Solo"
	case VGGSSDuet:
		return "VGGSound-Duet"
	case MUSICDuet:
		return "MUSIC-Duet"
	}
	return string(k)
}

// music reports the MUSIC benchmarks, whose audio id is the image id
// without its last 10 characters.
func (k Kind) music() bool { return k == MUSICSolo || k == MUSICDuet }

// Source is one annotated sound source.
type Source struct {
	Class string
	Box   metrics.NormBox
}

// Sample is one annotated clip. VGG-SS samples have a Source per box, all
// of the clip's class; MUSIC-Solo samples have one; duets have two, in
// file order (src1, src2).
type Sample struct {
	ID      string
	Sources []Source
}

// Classes joins the distinct classes of the sample's sources with " + ".
func (s Sample) Classes() string {
	var out []string
	for _, src := range s.Sources {
		if src.Class != "" && (len(out) == 0 || out[len(out)-1] != src.Class) {
			out = append(out, src.Class)
		}
	}
	return strings.Join(out, " + ")
}

// Annotations are the samples of one annotation file, in file order.
type Annotations struct {
	Kind    Kind
	Name    string // the file, for messages
	Samples []Sample
	index   map[string]int
}

// Lookup returns the sample with id.
func (a *Annotations) Lookup(id string) (Sample, bool) {
	i, ok := a.index[id]
	if !ok {
		return Sample{}, false
	}
	return a.Samples[i], true
}

// Index returns the position of id in file order.
func (a *Annotations) Index(id string) (int, bool) {
	i, ok := a.index[id]
	return i, ok
}

// Load reads the annotation file at path as kind.
func Load(kind Kind, path string) (*Annotations, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("annotations: %w", err)
	}
	return Read(kind, path, data)
}

// entry holds every member any of the formats uses; which must be present
// depends on the kind.
type entry struct {
	File      *string         `json:"file"`
	Class     string          `json:"class"`
	BBox      json.RawMessage `json:"bbox"`
	ClassSrc1 string          `json:"class_src1"`
	BBoxSrc1  json.RawMessage `json:"bbox_src1"`
	ClassSrc2 string          `json:"class_src2"`
	BBoxSrc2  json.RawMessage `json:"bbox_src2"`
}

// shapes says what each kind's file looks like, for error messages.
var shapes = map[Kind]string{
	VGGSS:     `[{"file":"<id>","class":"…","bbox":[[x1,y1,x2,y2],…]},…]`,
	MUSICSolo: `[{"file":"<id>","class":"…","bbox":[x,y,w,h]},…]`,
	VGGSSDuet: `[{"file":"<id>","class_src1":"…","bbox_src1":[x,y,w,h],"class_src2":"…","bbox_src2":[x,y,w,h]},…]`,
	MUSICDuet: `[{"file":"<id>","class_src1":"…","bbox_src1":[x,y,w,h],"class_src2":"…","bbox_src2":[x,y,w,h]},…]`,
}

// Read parses an annotation file held in memory; name is used in messages.
func Read(kind Kind, name string, data []byte) (*Annotations, error) {
	if _, ok := shapes[kind]; !ok {
		return nil, fmt.Errorf("annotations %s: unknown dataset %q", name, kind)
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("annotations %s (%s, want %s): %s", name, kind, shapes[kind], fmt.Sprintf(format, args...))
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			line, col := lineCol(data, syn.Offset-1) // Offset counts the offending byte
			return nil, fail("line %d, column %d: %v", line, col, err)
		case errors.As(err, &typ):
			return nil, fail("not a JSON array of entries")
		}
		return nil, fail("%v", err)
	}
	a := &Annotations{Kind: kind, Name: name, Samples: make([]Sample, 0, len(raw)), index: make(map[string]int, len(raw))}
	for i, r := range raw {
		s, err := parseEntry(kind, r)
		if err != nil {
			what := fmt.Sprintf("entry %d", i)
			if s.ID != "" {
				what += fmt.Sprintf(" (file %q)", s.ID)
			}
			return nil, fail("%s: %v", what, err)
		}
		if j, dup := a.index[s.ID]; dup {
			return nil, fail("entries %d and %d have the same file %q", j, i, s.ID)
		}
		a.index[s.ID] = i
		a.Samples = append(a.Samples, s)
	}
	if len(a.Samples) == 0 {
		return nil, fail("no entries")
	}
	return a, nil
}

func parseEntry(kind Kind, r json.RawMessage) (Sample, error) {
	var e entry
	if err := json.Unmarshal(r, &e); err != nil {
		return Sample{}, fmt.Errorf("not an object with string \"file\" and \"class\" members: %w", err)
	}
	if e.File == nil {
		return Sample{}, errors.New(`no "file"`)
	}
	s := Sample{ID: *e.File}
	if err := checkID(s.ID); err != nil {
		return s, err
	}
	format := kind.Format()
	switch kind {
	case VGGSS:
		if e.BBox == nil {
			return s, fmt.Errorf(`no "bbox"%s`, hintFor(e))
		}
		var boxes []json.RawMessage
		if err := json.Unmarshal(e.BBox, &boxes); err != nil {
			return s, fmt.Errorf(`"bbox" is not a list of boxes: %w`, err)
		}
		for j, b := range boxes {
			v, err := parseBox(b)
			if err != nil {
				if len(boxes) == 4 && isNumber(b) {
					return s, errors.New(`"bbox" is one box of 4 numbers, but VGG-SS has a list of boxes [[x1,y1,x2,y2],…] (is this a MUSIC-Solo file? use --dataset music-solo)`)
				}
				return s, fmt.Errorf("bbox[%d]: %w", j, err)
			}
			s.Sources = append(s.Sources, Source{Class: e.Class, Box: metrics.NormBox{Format: format, V: v}})
		}
	case MUSICSolo:
		if e.BBox == nil {
			return s, fmt.Errorf(`no "bbox"%s`, hintFor(e))
		}
		v, err := parseBox(e.BBox)
		if err != nil {
			if bytes.HasPrefix(bytes.TrimSpace(e.BBox), []byte("[[")) {
				return s, errors.New(`"bbox" is a list of boxes, but MUSIC-Solo has one box [x,y,w,h] (is this vggss.json? use --dataset vggss)`)
			}
			return s, fmt.Errorf("bbox: %w", err)
		}
		s.Sources = []Source{{Class: e.Class, Box: metrics.NormBox{Format: format, V: v}}}
	default: // duets
		for j, b := range []struct {
			class string
			box   json.RawMessage
		}{{e.ClassSrc1, e.BBoxSrc1}, {e.ClassSrc2, e.BBoxSrc2}} {
			if b.box == nil {
				return s, fmt.Errorf(`no "bbox_src%d"%s`, j+1, hintFor(e))
			}
			v, err := parseBox(b.box)
			if err != nil {
				return s, fmt.Errorf("bbox_src%d: %w", j+1, err)
			}
			s.Sources = append(s.Sources, Source{Class: b.class, Box: metrics.NormBox{Format: format, V: v}})
		}
	}
	return s, nil
}

// hintFor names the dataset an entry looks like it belongs to.
func hintFor(e entry) string {
	switch {
	case e.BBoxSrc1 != nil || e.BBoxSrc2 != nil:
		return " (this looks like a duet file: use --dataset vggss-duet or music-duet)"
	case e.BBox != nil:
		return " (this looks like a single-source file: use --dataset vggss or music-solo)"
	}
	return ""
}

func parseBox(b json.RawMessage) ([4]float64, error) {
	var v []float64
	if err := json.Unmarshal(b, &v); err != nil {
		return [4]float64{}, fmt.Errorf("%s is not a list of 4 numbers", shorten(b))
	}
	if len(v) != 4 {
		return [4]float64{}, fmt.Errorf("%s has %d numbers, want 4", shorten(b), len(v))
	}
	return [4]float64(v), nil
}

func isNumber(b json.RawMessage) bool {
	var f float64
	return json.Unmarshal(b, &f) == nil
}

func shorten(b []byte) string {
	s := string(bytes.TrimSpace(b))
	if len(s) > 60 {
		s = s[:57] + "…"
	}
	return s
}

// checkID accepts ids that are local relative paths, since they name files
// under the input directories.
func checkID(id string) error {
	switch {
	case id == "":
		return errors.New(`empty "file"`)
	case !filepath.IsLocal(id) || strings.ContainsAny(id, "\\\x00") || filepath.Clean(id) != id:
		return fmt.Errorf("file %q is not a plain relative name (it names files under the input directories)", id)
	}
	return nil
}

// lineCol returns the 1-based line and column of the byte at offset.
func lineCol(data []byte, offset int64) (int, int) {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}
