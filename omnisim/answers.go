package omnisim

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"regexp"
	"strconv"
)

// The pools a simulated answer draws from. They are small on purpose: the
// simulator pretends to nothing beyond them.
var (
	audioClasses = []string{"dog barking", "speech", "engine", "beep", "siren", "piano", "violin", "applause", "drum set", "alarm clock"}
	objectNouns  = []string{"a loudspeaker", "a person", "a dog", "a musical instrument", "a machine", "a small device", "a phone"}
	roleTagPool  = []string{"sound_source", "moving_part", "visible_mouth", "vibrating_surface", "hands_in_contact",
		"speaker_cone", "foreground_object", "partially_occluded", "near_previous_box", "clear_view"}
	anchorPool = []string{"object_body", "mouth_open", "speaker_grille", "strings", "drum_head", "hands_clapping",
		"engine_housing", "blinking_light", "display_screen"}
)

// answerContext is everything an answer may depend on besides the trial.
type answerContext struct {
	stage       Stage
	sources     int // K, for locate and audio
	source      int // s<k>, for analysis and refine
	media       [32]byte
	image       *imageInput
	previous    *box  // previous_bbox read from the prompt, if any
	hint        []int // thirds named by a locate prompt's direction hint
	temperature float64

	decoded    image.Image // decoded on first use by the truth sidecar
	decodeDone bool
}

// rng derives a generator from the seed and the answer's coordinates, so
// answers do not depend on request order or on other requests.
func (s *Server) rng(label string, media [32]byte, source, trial int) *rand.Rand {
	h := sha256.New()
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], s.cfg.Seed)
	h.Write(n[:])
	writeLengthPrefixed(h, []byte(label))
	h.Write(media[:])
	binary.LittleEndian.PutUint64(n[:], uint64(source))
	h.Write(n[:])
	binary.LittleEndian.PutUint64(n[:], uint64(trial))
	h.Write(n[:])
	sum := h.Sum(nil)
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(sum[0:8]), binary.LittleEndian.Uint64(sum[8:16])))
}

type locateAnswer struct {
	BBox        box    `json:"bbox"`
	Description string `json:"description"`
}

type audioAnswer struct {
	AudioClass string  `json:"audio_class"`
	Confidence float64 `json:"audio_confidence_score"`
}

type multiAnswer[T any] struct {
	Sources []T `json:"sources"`
}

type anchorVote struct {
	Anchor string  `json:"anchor"`
	Score  float64 `json:"score"`
}

type analysisAnswer struct {
	AVConsistency float64      `json:"av_consistency"`
	RoleTags      []string     `json:"role_tags"`
	AnchorVotes   []anchorVote `json:"anchor_votes"`
	Keep          bool         `json:"keep"`
}

type refineAnswer struct {
	BBox               box    `json:"bbox"`
	Changed            bool   `json:"changed"`
	Ops                any    `json:"ops"`
	RefinedDescription string `json:"refined_description"`
}

type deltaOp struct {
	Type string `json:"type"`
	DX   int    `json:"dx"`
	DY   int    `json:"dy"`
	DL   int    `json:"dl"`
	DT   int    `json:"dt"`
	DR   int    `json:"dr"`
	DB   int    `json:"db"`
}

type amountOp struct {
	Type   string `json:"type"`
	Amount int    `json:"amount"`
}

type recenterOp struct {
	Type   string `json:"type"`
	Target [2]int `json:"target"`
}

// answer builds the JSON value for one trial.
func (s *Server) answer(ac *answerContext, trial int) any {
	switch ac.stage {
	case StageLocate:
		if ac.sources == 1 {
			return s.locate(ac, ac.source, trial)
		}
		out := multiAnswer[locateAnswer]{}
		for k := range ac.sources {
			out.Sources = append(out.Sources, s.locate(ac, k, trial))
		}
		return out
	case StageAudio:
		answers := s.audio(ac, trial)
		if ac.sources == 1 {
			return answers[0]
		}
		return multiAnswer[audioAnswer]{Sources: answers}
	case StageAnalysis:
		return s.analysis(ac, trial)
	default:
		return s.refine(ac, trial)
	}
}

func (s *Server) locate(ac *answerContext, source, trial int) locateAnswer {
	w, h := ac.image.width, ac.image.height
	if b, ok := s.truthLocateBox(ac, source); ok {
		tg, _ := s.truth.target(source)
		return locateAnswer{BBox: b, Description: fmt.Sprintf(
			"the object coloured like rgb(%d,%d,%d) in the %s of the frame (simulated answer from colour matching)",
			tg.rgb[0], tg.rgb[1], tg.rgb[2], region(b, w, h))}
	}
	r := s.rng("locate", ac.media, source, trial)
	b := seededBox(r, w, h)
	noun := objectNouns[r.IntN(len(objectNouns))]
	return locateAnswer{BBox: b, Description: fmt.Sprintf("%s in the %s of the frame (simulated answer)", noun, region(b, w, h))}
}

// seededBox places a box covering 20–60 % of each side anywhere in the image.
func seededBox(r *rand.Rand, w, h int) box {
	bw := min(max(int(math.Round(float64(w)*(0.2+0.4*r.Float64()))), 1), w)
	bh := min(max(int(math.Round(float64(h)*(0.2+0.4*r.Float64()))), 1), h)
	x1 := r.IntN(w - bw + 1)
	y1 := r.IntN(h - bh + 1)
	return clipBox([4]float64{float64(x1), float64(y1), float64(x1 + bw - 1), float64(y1 + bh - 1)}, w, h)
}

// audio answers all K sources at once so that their classes differ.
func (s *Server) audio(ac *answerContext, trial int) []audioAnswer {
	r := s.rng("audio", ac.media, 0, trial)
	order := r.Perm(len(audioClasses))
	out := make([]audioAnswer, ac.sources)
	for k := range out {
		out[k] = audioAnswer{AudioClass: audioClasses[order[k%len(order)]], Confidence: round2(0.45 + 0.53*r.Float64())}
		if tg, ok := s.truth.target(k); ok && tg.audioClass != "" {
			out[k] = audioAnswer{AudioClass: tg.audioClass, Confidence: tg.audioConfidence}
		}
	}
	return out
}

func (s *Server) analysis(ac *answerContext, trial int) analysisAnswer {
	window := s.rng("analysis window", ac.media, ac.source, 0)
	difficulty := 0.05 + 0.8*window.Float64()
	if tb, ok := s.truthBox(ac, ac.source); ok && ac.previous != nil {
		difficulty = 1 - iou(*ac.previous, tb)
	}
	r := s.rng("analysis", ac.media, ac.source, trial)
	noise := 0.15 * min(ac.temperature/0.4, 2)
	av := round2(clamp01(1 - difficulty + noise*(2*r.Float64()-1)))

	tagOrder := window.Perm(len(roleTagPool))
	tags := []string{roleTagPool[tagOrder[0]], roleTagPool[tagOrder[1]]}
	for _, i := range tagOrder[2 : 2+r.IntN(3)] {
		tags = append(tags, roleTagPool[i])
	}
	if r.Float64() < 0.15 {
		// Models spell tags loosely now and then; consensus normalises them.
		tags[0] = respell(tags[0])
	}

	anchorOrder := window.Perm(len(anchorPool))
	count := 1 + window.IntN(3)
	if count > 1 && r.Float64() < 0.3 {
		count--
	}
	votes := make([]anchorVote, count)
	for i := range votes {
		votes[i] = anchorVote{Anchor: anchorPool[anchorOrder[i]], Score: round2(clamp01(av - 0.05*float64(i) + noise*(2*r.Float64()-1)))}
	}
	return analysisAnswer{AVConsistency: av, RoleTags: tags, AnchorVotes: votes, Keep: av >= 0.6}
}

func respell(tag string) string {
	out := []byte(tag)
	for i, c := range out {
		if c == '_' {
			out[i] = ' '
		}
	}
	return string(bytes.ToUpper(out[:1])) + string(out[1:])
}

func (s *Server) refine(ac *answerContext, trial int) refineAnswer {
	w, h := ac.image.width, ac.image.height
	maxDelta := maxDeltaPx(w, h)
	initial := s.locate(ac, ac.source, 0).BBox
	if ac.previous != nil {
		initial = clipBox(ac.previous.floats(), w, h)
	}
	if tb, ok := s.truthBox(ac, ac.source); ok {
		next := clampBox(tb, initial, maxDelta, w, h)
		if next == initial {
			return refineAnswer{BBox: initial, Changed: false, RefinedDescription: refinedText(initial, w, h, false)}
		}
		op := deltaOp{Type: "delta", DL: next[0] - initial[0], DT: next[1] - initial[1], DR: next[2] - initial[2], DB: next[3] - initial[3]}
		return refineAnswer{BBox: next, Changed: true, Ops: op, RefinedDescription: refinedText(next, w, h, true)}
	}

	r := s.rng("refine", ac.media, ac.source, trial)
	small := func() int { return r.IntN(maxDelta+1) - maxDelta/2 }
	var cand [4]float64
	var ops any
	switch r.IntN(6) {
	case 0:
		return refineAnswer{BBox: initial, Changed: false, RefinedDescription: refinedText(initial, w, h, false)}
	case 1:
		cand = [4]float64{float64(initial[0] + small()), float64(initial[1] + small()), float64(initial[2] + small()), float64(initial[3] + small())}
	case 2:
		op := deltaOp{Type: "delta", DX: small() / 2, DY: small() / 2, DL: small() / 2, DT: small() / 2, DR: small() / 2, DB: small() / 2}
		ops = op
		cand = [4]float64{float64(initial[0] + op.DX + op.DL), float64(initial[1] + op.DY + op.DT),
			float64(initial[2] + op.DX + op.DR), float64(initial[3] + op.DY + op.DB)}
	case 3, 4:
		a := 1 + r.IntN(max(maxDelta/2, 1))
		kind := "expand"
		if r.IntN(2) == 1 {
			kind, a = "shrink", -a
		}
		ops = amountOp{Type: kind, Amount: abs(a)}
		cand = [4]float64{float64(initial[0] - a), float64(initial[1] - a), float64(initial[2] + a), float64(initial[3] + a)}
	default:
		cx, cy := initial.centre()
		target := [2]int{int(math.Round(cx)) + small(), int(math.Round(cy)) + small()}
		hw, hh := max(1, (initial[2]-initial[0])/2), max(1, (initial[3]-initial[1])/2)
		ops = recenterOp{Type: "recenter", Target: target}
		cand = [4]float64{float64(target[0] - hw), float64(target[1] - hh), float64(target[0] + hw), float64(target[1] + hh)}
	}
	next := clampBox(clipBox(cand, w, h), initial, maxDelta, w, h)
	return refineAnswer{BBox: next, Changed: true, Ops: ops, RefinedDescription: refinedText(next, w, h, true)}
}

func refinedText(b box, w, h int, moved bool) string {
	verb := "was kept as it was"
	if moved {
		verb = "was adjusted by a few pixels"
	}
	return fmt.Sprintf("The box around the sounding object in the %s of the frame %s. "+
		"This is a simulated refinement; nothing in the picture or the sound was examined.", region(b, w, h), verb)
}

// truthBox is the sidecar's colour box for a source, decoding the image once
// per request.
func (s *Server) truthBox(ac *answerContext, source int) (box, bool) {
	img, ok := s.truthImage(ac, source)
	if !ok {
		return box{}, false
	}
	return s.truth.colourBox(img, source)
}

// truthLocateBox is what locate answers with a truth sidecar: the colour
// box, missed on purpose when the target has a locate_error.
func (s *Server) truthLocateBox(ac *answerContext, source int) (box, bool) {
	img, ok := s.truthImage(ac, source)
	if !ok {
		return box{}, false
	}
	return s.truth.locateBox(img, source, ac.hint)
}

// truthImage decodes the request's image once, when the sidecar has a
// target for source.
func (s *Server) truthImage(ac *answerContext, source int) (image.Image, bool) {
	if s.truth == nil || ac.image == nil {
		return nil, false
	}
	if _, ok := s.truth.target(source); !ok {
		return nil, false
	}
	if !ac.decodeDone {
		ac.decodeDone = true
		img, _, err := image.Decode(bytes.NewReader(ac.image.data))
		if err != nil {
			s.log.Warn("truth sidecar: cannot decode image, using the seeded answer", "error", err)
			return nil, false
		}
		ac.decoded = img
	}
	return ac.decoded, ac.decoded != nil
}

var (
	numberPattern    = `(-?[0-9]+(?:\.[0-9]+)?)`
	fourNumbers      = `\[\s*` + numberPattern + `\s*,\s*` + numberPattern + `\s*,\s*` + numberPattern + `\s*,\s*` + numberPattern + `\s*\]`
	previousBoxField = regexp.MustCompile(`(?i)previous_bbox[^\[\]]{0,40}` + fourNumbers)
	anyBox           = regexp.MustCompile(fourNumbers)
)

// previousBox finds the box the prompt passes on (package doc), scaling a
// normalised box to pixels as garssld's own reader does.
func previousBox(text string, w, h int) *box {
	m := previousBoxField.FindStringSubmatch(text)
	if m == nil {
		m = anyBox.FindStringSubmatch(text)
	}
	if m == nil {
		return nil
	}
	var v [4]float64
	normalised := true
	for i := range v {
		f, err := strconv.ParseFloat(m[i+1], 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
		v[i] = f
		normalised = normalised && f <= 1
	}
	if normalised && w > 2 && h > 2 {
		v = [4]float64{v[0] * float64(w), v[1] * float64(h), v[2] * float64(w), v[3] * float64(h)}
	}
	b := clipBox(v, w, h)
	return &b
}

// render turns an answer into message content: pure JSON when the request
// asked for structured output, else wrapped as a chatty model might.
func render(v any, structured bool, r *rand.Rand) (pure, content string, err error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", "", fmt.Errorf("encode answer: %w", err)
	}
	pure = string(bytes.TrimRight(buf.Bytes(), "\n"))
	if structured {
		return pure, pure, nil
	}
	switch p := r.Float64(); {
	case p < 0.4:
		return pure, pure, nil
	case p < 0.7:
		return pure, "```json\n" + pure + "\n```", nil
	case p < 0.9:
		return pure, "Here is the answer in the requested format.\n\n```json\n" + pure + "\n```", nil
	default:
		return pure, "assistant\n" + pure, nil
	}
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

func clamp01(x float64) float64 { return min(max(x, 0), 1) }

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
