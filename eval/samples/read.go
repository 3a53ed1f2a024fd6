package samples

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
)

// MaxLineBytes bounds one line; a payload with every debug member of a
// duet is far below it.
const MaxLineBytes = 16 << 20

// Prediction is what scoring needs from a line.
type Prediction struct {
	Sample  string   `json:"sample"`
	Status  string   `json:"status"`
	Failure *Failure `json:"failure"`
	Frame   struct {
		Width       int `json:"width"`
		Height      int `json:"height"`
		ModelWidth  int `json:"model_width"`
		ModelHeight int `json:"model_height"`
	} `json:"frame"`
	Audio struct {
		Label string `json:"label"`
	} `json:"audio"`
	Sources []PredictedSource `json:"sources"`
	GAR     struct {
		Requests int `json:"requests"`
	} `json:"gar"`
	Tokens *struct {
		Prompt     int `json:"prompt"`
		Completion int `json:"completion"`
	} `json:"tokens"`
	LatencyMS struct {
		Total int64 `json:"total"`
	} `json:"latency_ms"`
	// Settings are those the line was made with; nil in lines written
	// before garssld recorded them.
	Settings *Settings `json:"settings"`
}

// PredictedSource is one predicted box.
type PredictedSource struct {
	// BBox is inclusive pixels of the original frame.
	BBox [4]float64 `json:"bbox"`
	// BBoxNorm is the box's pixel edges relative to the image.
	BBoxNorm [4]float64 `json:"bbox_norm"`
	// BBoxModel is inclusive pixels of the model image.
	BBoxModel [4]float64 `json:"bbox_model"`
	Label     string     `json:"label"`
	Refined   bool       `json:"refined"`
}

// OK reports a successful sample.
func (p *Prediction) OK() bool { return p.Status == "ok" }

// Reason is why a failed sample failed: its failure reason, else its
// status.
func (p *Prediction) Reason() string {
	if p.Failure != nil && p.Failure.Reason != "" {
		return p.Failure.Reason
	}
	return p.Status
}

// Record is one line as read.
type Record struct {
	Line   int   // 1-based line number
	Offset int64 // where the line starts in the file
	Raw    []byte
	Pred   Prediction
}

// Tail is a last line cut short by an interrupted append: no newline and
// not a readable line.
type Tail struct {
	Line   int
	Offset int64
	Bytes  int
	Err    error
}

// File is the content of a samples.jsonl.
type File struct {
	Records []Record
	// End is the offset just past the last complete record; a Tail starts
	// there.
	End int64
	// MissingNewline says the last record is complete but its newline was
	// never written.
	MissingNewline bool
	Tail           *Tail
}

// Read parses a samples.jsonl. A damaged line is an error naming it, unless
// it is the last line and has no newline (File.Tail). Blank lines are
// skipped; two lines for one sample are an error.
func Read(r io.Reader, name string) (File, error) {
	var f File
	br := bufio.NewReaderSize(r, 64<<10)
	seen := map[string]int{}
	var offset int64
	for lineNo := 1; ; lineNo++ {
		raw, err := readLine(br)
		if err != nil && !errors.Is(err, io.EOF) {
			if errors.Is(err, errLineTooLong) {
				return f, fmt.Errorf("%s line %d: longer than %d bytes", name, lineNo, MaxLineBytes)
			}
			return f, fmt.Errorf("read %s: %w", name, err)
		}
		if len(raw) == 0 && errors.Is(err, io.EOF) {
			return f, nil
		}
		complete := len(raw) > 0 && raw[len(raw)-1] == '\n'
		body := bytes.TrimRight(raw, "\r\n")
		start := offset
		offset += int64(len(raw))
		if len(bytes.TrimSpace(body)) == 0 {
			if complete {
				f.End = offset
			}
			continue
		}
		rec := Record{Line: lineNo, Offset: start, Raw: body}
		perr := parse(body, &rec.Pred)
		if perr != nil {
			if !complete {
				f.Tail = &Tail{Line: lineNo, Offset: start, Bytes: len(raw), Err: perr}
				return f, nil
			}
			return f, fmt.Errorf("%s line %d: %w", name, lineNo, perr)
		}
		if prev, dup := seen[rec.Pred.Sample]; dup {
			return f, fmt.Errorf("%s lines %d and %d are both sample %q: remove one", name, prev, lineNo, rec.Pred.Sample)
		}
		seen[rec.Pred.Sample] = lineNo
		f.Records = append(f.Records, rec)
		f.End = offset
		if !complete {
			f.MissingNewline = true
			return f, nil
		}
	}
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line with its newline, if any.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > MaxLineBytes {
			return nil, errLineTooLong
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return line, err
	}
}

// parse decodes and checks one line: what scoring relies on must be there.
func parse(body []byte, p *Prediction) error {
	*p = Prediction{}
	if err := json.Unmarshal(body, p); err != nil {
		return fmt.Errorf("not a sample line (payload v1 plus \"sample\"): %w", err)
	}
	if p.Sample == "" {
		return errors.New(`no "sample" id`)
	}
	if p.Status == "" {
		return fmt.Errorf("sample %q: no \"status\"", p.Sample)
	}
	if !p.OK() {
		return nil
	}
	if p.Frame.Width <= 0 || p.Frame.Height <= 0 {
		return fmt.Errorf("sample %q: status ok but frame size %dx%d", p.Sample, p.Frame.Width, p.Frame.Height)
	}
	if len(p.Sources) == 0 {
		return fmt.Errorf("sample %q: status ok but no sources", p.Sample)
	}
	for i, s := range p.Sources {
		for _, v := range append(s.BBox[:], s.BBoxNorm[:]...) {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("sample %q: sources[%d] has a non-finite coordinate", p.Sample, i)
			}
		}
	}
	return nil
}
