package capture

//#cgo pkg-config: libavutil
//#include <string.h>
//#include <libavutil/frame.h>
//
// /* Copies plane ch of a planar float frame into dst (room for max samples)
//    and returns how many were copied; 0 for a plane the frame lacks.
//    go-astiav v0.16.0 exposes frame bytes for images only. */
// static int garssl_copy_fltp_plane(const AVFrame *f, int ch, float *dst, int max) {
//     int n = f->nb_samples;
//     if (n > max) n = max;
//     if (n <= 0 || ch < 0 || ch >= f->ch_layout.nb_channels || f->extended_data == NULL || f->extended_data[ch] == NULL) return 0;
//     memcpy(dst, f->extended_data[ch], (size_t)n * sizeof(float));
//     return n;
// }
import "C"

import (
	"unsafe"

	"github.com/asticode/go-astiav"
)

// copyPlaneF32 copies channel ch of a planar float frame into dst[:0] and
// returns the filled slice, reusing dst's storage when it is large enough.
// A channel the frame lacks gives silence of the frame's length, so the
// array's channels stay of one length.
func copyPlaneF32(f *astiav.Frame, ch int, dst []float32) []float32 {
	n := f.NbSamples()
	if n <= 0 {
		return dst[:0]
	}
	if cap(dst) < n {
		dst = make([]float32, n)
	}
	dst = dst[:n]
	if got := int(C.garssl_copy_fltp_plane((*C.AVFrame)(f.UnsafePointer()), C.int(ch), (*C.float)(unsafe.Pointer(&dst[0])), C.int(n))); got < n {
		clear(dst[got:])
	}
	return dst
}
