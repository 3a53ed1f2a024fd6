package capture

//#cgo pkg-config: libavcodec libavutil
//#include <libavcodec/avcodec.h>
import "C"

import (
	"errors"
	"unsafe"

	"github.com/asticode/go-astiav"
)

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
