package capture

//#cgo pkg-config: libavformat libavutil
//#include <libavformat/avformat.h>
//
// /* The wrap period of a stream's timestamps, in bits (33 for MPEG-TS). */
// static int garssl_stream_wrap_bits(const AVFormatContext *fc, unsigned i) {
//     if (i >= fc->nb_streams || fc->streams[i] == NULL) return 64;
//     return fc->streams[i]->pts_wrap_bits;
// }
import "C"

import (
	"errors"
	"time"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// errLayout: the cast below no longer finds an AVFormatContext where
// go-astiav keeps it. It is a programming error, reported loudly.
var errLayout = errors.New("go-astiav's FormatContext no longer holds an AVFormatContext pointer as its only field: update capture/format_cgo.go for this go-astiav version")

// formatContext returns the AVFormatContext behind fc. go-astiav v0.16.0
// keeps it as the only field of FormatContext and has no accessor for it,
// nor for start_time_realtime or pts_wrap_bits. The cast is checked against
// what the context says of itself (libavformat's AVClass, and the stream
// count and start time go-astiav reports), so a layout change fails with
// errLayout instead of reading garbage; TestFormatContextLayout guards it.
func formatContext(fc *astiav.FormatContext) (*C.AVFormatContext, error) {
	if fc == nil || unsafe.Sizeof(*fc) != unsafe.Sizeof(uintptr(0)) {
		return nil, errLayout
	}
	p := *(**C.AVFormatContext)(unsafe.Pointer(fc))
	if p == nil || p.av_class != C.avformat_get_class() || int(p.nb_streams) != fc.NbStreams() || int64(p.start_time) != fc.StartTime() {
		return nil, errLayout
	}
	return p, nil
}

// startTimeRealtime is the sender's wall-clock time of the input's start
// time, when FFmpeg learnt it (RTCP sender reports of RTSP and RTP inputs).
func startTimeRealtime(fc *astiav.FormatContext) (time.Time, bool, error) {
	p, err := formatContext(fc)
	if err != nil {
		return time.Time{}, false, err
	}
	us := int64(p.start_time_realtime)
	if us == astiav.NoPtsValue || us <= 0 {
		return time.Time{}, false, nil
	}
	return time.UnixMicro(us), true, nil
}

// wrapBits is the number of bits stream i's timestamps wrap at.
func wrapBits(fc *astiav.FormatContext, i int) (int, error) {
	p, err := formatContext(fc)
	if err != nil {
		return 0, err
	}
	return int(C.garssl_stream_wrap_bits(p, C.uint(i))), nil
}
