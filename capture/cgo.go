package capture

//#cgo pkg-config: libavcodec libavformat libavfilter libavdevice libswscale libswresample libavutil
//#include <string.h>
//#include <libavutil/frame.h>
//#include <libavutil/avutil.h>
//#include <libavcodec/avcodec.h>
//#include <libavformat/avformat.h>
//#include <libavfilter/avfilter.h>
//#include <libavdevice/avdevice.h>
//#include <libswscale/swscale.h>
//#include <libswresample/swresample.h>
//
// /* Copies the samples of a packed mono s16 frame into dst (room for max
//    samples) and returns how many were copied. go-astiav v0.16.0 exposes
//    frame bytes for images only. */
// static int garssl_copy_s16_mono(const AVFrame *f, int16_t *dst, int max) {
//     int n = f->nb_samples;
//     if (n > max) n = max;
//     if (n <= 0 || f->data[0] == NULL) return 0;
//     memcpy(dst, f->data[0], (size_t)n * sizeof(int16_t));
//     return n;
// }
//
// /* Reports whether the decoder flagged f as damaged: concealed errors or a
//    frame built from corrupt packets. go-astiav v0.16.0 has no accessor. */
// static int garssl_frame_damaged(const AVFrame *f) {
//     return (f->flags & AV_FRAME_FLAG_CORRUPT) != 0 || f->decode_error_flags != 0;
// }
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// copyMonoS16 appends the samples of a packed mono s16 frame to dst[:0] and
// returns the filled slice, reusing dst's storage when it is large enough.
func copyMonoS16(f *astiav.Frame, dst []int16) []int16 {
	n := f.NbSamples()
	if n <= 0 {
		return dst[:0]
	}
	if cap(dst) < n {
		dst = make([]int16, n)
	}
	dst = dst[:n]
	got := C.garssl_copy_s16_mono((*C.AVFrame)(f.UnsafePointer()), (*C.int16_t)(unsafe.Pointer(&dst[0])), C.int(n))
	return dst[:int(got)]
}

// frameDamaged reports whether the decoder concealed errors in f.
func frameDamaged(f *astiav.Frame) bool {
	return C.garssl_frame_damaged((*C.AVFrame)(f.UnsafePointer())) != 0
}

// LibraryVersions reports the FFmpeg libraries garssld is linked against, as
// "libavcodec 59.37.100" and so on, plus FFmpeg's own version string.
func LibraryVersions() []string {
	v := func(name string, n C.uint) string {
		return fmt.Sprintf("%s %d.%d.%d", name, n>>16, (n>>8)&0xff, n&0xff)
	}
	return []string{
		"ffmpeg " + C.GoString(C.av_version_info()),
		v("libavutil", C.avutil_version()),
		v("libavcodec", C.avcodec_version()),
		v("libavformat", C.avformat_version()),
		v("libavfilter", C.avfilter_version()),
		v("libavdevice", C.avdevice_version()),
		v("libswscale", C.swscale_version()),
		v("libswresample", C.swresample_version()),
	}
}
