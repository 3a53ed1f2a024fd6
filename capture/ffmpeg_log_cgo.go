package capture

//#cgo pkg-config: libavutil
//#include <stdarg.h>
//#include <stdio.h>
//#include <libavutil/log.h>
//
//extern void garsslFFmpegLog(void *avcl, int level, char *msg, int len, int truncated);
//
// /* FFmpeg's log callback. go-astiav v0.16.0 formats into a fixed
//    char[1024] with vsprintf, so one long line (a long option value, a
//    signed URL) smashes the stack. This one formats with vsnprintf into a
//    bounded buffer and tells Go whether the message was cut. */
// static inline void garssl_log_callback(void *avcl, int level, const char *fmt, va_list vl) {
//     char line[1024];
//     int n;
//     if (level > av_log_get_level()) return;
//     n = vsnprintf(line, sizeof line, fmt, vl);
//     if (n < 0) return;
//     garsslFFmpegLog(avcl, level, line, n < (int)sizeof line ? n : (int)sizeof line - 1, n >= (int)sizeof line);
// }
//
// static inline void garssl_install_log_callback(void) { av_log_set_callback(garssl_log_callback); }
import "C"

import (
	"time"
	"unsafe"

	"github.com/asticode/go-astiav"
)

func installFFmpegLogCallback() {
	astiav.SetLogLevel(astiav.LogLevelWarning)
	C.garssl_install_log_callback()
}

//export garsslFFmpegLog
func garsslFFmpegLog(avcl unsafe.Pointer, level C.int, msg *C.char, n C.int, truncated C.int) {
	ffmpegLogger.piece(uintptr(avcl), astiav.LogLevel(level), C.GoStringN(msg, n), truncated != 0, time.Now())
}
