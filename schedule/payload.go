package schedule

import (
	"strconv"
	"time"

	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/windowing"
)

// input is what the GAR loop needs of a window. Request ids start with
// <node>/<stream>/<seq> (design §4).
func input(node string, w *windowing.Window, st StreamConfig) gar.Input {
	return gar.Input{
		RequestID:   node + "/" + w.Stream + "/" + strconv.FormatUint(w.Seq, 10),
		ImageJPEG:   w.JPEG,
		ModelWidth:  w.ModelWidth,
		ModelHeight: w.ModelHeight,
		WAV:         w.WAV,
		FrameWidth:  w.Width,
		FrameHeight: w.Height,
		HFOVDeg:     st.HFOVDeg,
		Direction:   st.Direction,
		Array:       w.Array,
	}
}

// detection renders a window and its result as payload v1, stamped with its
// age at publish. A negative age (a clock anchor slightly ahead) is
// published as 0, the schema's floor.
func detection(node, runID string, w *windowing.Window, r gar.Result, age time.Duration) *gar.Detection {
	d := gar.NewDetection(gar.WindowMeta{
		Node: node, RunID: runID, Stream: w.Stream, Seq: w.Seq,
		Start: w.WallStart, End: w.WallEnd,
		PTSStart: w.PTSStart, PTSEnd: w.PTSEnd, FramePTS: w.FramePTS,
		FrameWidth: w.Width, FrameHeight: w.Height,
		ModelWidth: w.ModelWidth, ModelHeight: w.ModelHeight,
		RMSDBFS: w.RMSDBFS,
	}, r)
	d.LatencyMS.AgeAtPublish = max(age, 0).Milliseconds()
	return &d
}
