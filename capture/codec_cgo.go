package capture

//#cgo pkg-config: libavcodec libavutil
//#include <libavcodec/avcodec.h>
//#include <libavutil/frame.h>
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// errFrameLayout: as errCodecLayout, for go-astiav's Frame.
var errFrameLayout = errors.New("go-astiav's Frame no longer holds an AVFrame pointer as its first field: update capture/codec_cgo.go for this go-astiav version")

// framePlanes returns f's first three planes as slices over FFmpeg's own
// buffers, rows[i] lines of linesize[i] bytes each, and the linesizes.
// They stay valid while f keeps its buffers (until it is unreferenced or
// written again). go-astiav v0.16.0 only copies planes out; the cast is
// checked as codecContext's is.
func framePlanes(f *astiav.Frame, rows [3]int) (planes [3][]byte, linesizes [3]int, err error) {
	if f == nil {
		return planes, linesizes, errFrameLayout
	}
	p := *(**C.AVFrame)(unsafe.Pointer(f))
	if p == nil || int(p.width) != f.Width() || int(p.height) != f.Height() || int(p.format) != int(f.PixelFormat()) {
		return planes, linesizes, errFrameLayout
	}
	for i := range planes {
		if p.data[i] == nil || p.linesize[i] <= 0 {
			return planes, linesizes, fmt.Errorf("frame plane %d is missing (linesize %d)", i, int(p.linesize[i]))
		}
		linesizes[i] = int(p.linesize[i])
		planes[i] = unsafe.Slice((*byte)(unsafe.Pointer(p.data[i])), rows[i]*linesizes[i])
	}
	return planes, linesizes, nil
}

// errCodecLayout: the cast below no longer finds an AVCodecContext where
// go-astiav keeps it. It is a programming error, reported loudly.
var errCodecLayout = errors.New("go-astiav's CodecContext no longer holds an AVCodecContext pointer as its first field: update capture/codec_cgo.go for this go-astiav version")

// codecContext returns the AVCodecContext behind cc. go-astiav v0.16.0
// keeps it as the first field of CodecContext and has no accessor for it,
// nor for avcodec_flush_buffers or has_b_frames. The cast is checked
// against what the context says of itself (libavcodec's AVClass, and the
// size go-astiav reports), so a layout change fails with errCodecLayout
// instead of reading garbage.
func codecContext(cc *astiav.CodecContext) (*C.AVCodecContext, error) {
	if cc == nil {
		return nil, errCodecLayout
	}
	p := *(**C.AVCodecContext)(unsafe.Pointer(cc))
	if p == nil || p.av_class != C.avcodec_get_class() || int(p.width) != cc.Width() || int(p.height) != cc.Height() {
		return nil, errCodecLayout
	}
	return p, nil
}

// flushDecoder makes a drained decoder take packets again, from a key
// frame (avcodec_flush_buffers).
func flushDecoder(cc *astiav.CodecContext) error {
	p, err := codecContext(cc)
	if err != nil {
		return err
	}
	C.avcodec_flush_buffers(p)
	return nil
}

// reorderDelay is how many frames the decoder holds back to put them in
// presentation order (has_b_frames); 0 for streams without B-frames.
func reorderDelay(cc *astiav.CodecContext) (int, error) {
	p, err := codecContext(cc)
	if err != nil {
		return 0, err
	}
	return int(p.has_b_frames), nil
}
