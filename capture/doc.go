// Package capture turns camera and microphone inputs into decoded media on a
// common timeline. It is the only package that touches FFmpeg (through
// go-astiav): every FFmpeg object is allocated, used and freed here, and what
// leaves the package is plain Go values — 16 kHz mono s16 samples and JPEG
// pictures — handed to a media.Sink.
//
// # Inputs
//
// An input is a path or URL FFmpeg can open (files, rtsp://, udp:// and srt://
// MPEG-TS, http(s)://, an .sdp file describing RTP streams) or a device
// written as "<demuxer>:<device>": "v4l2:/dev/video0", "alsa:hw:1,0",
// "pulse:default". Local files are finite: they end at EOF, or start again
// when Loop is set (read as fast as they decode, or at the media's own rate
// with Realtime, as `ffmpeg -re` does). Everything else is live: an error,
// EOF or a stall closes the input and reopens it after a capped, jittered
// exponential backoff (1 s doubling to 30 s, reset once the input delivers
// media again). Opening and probing are bounded by OpenTimeout (FFmpeg alone
// may probe for 5 s); once media flows, StallTimeout bounds the wait for the
// next packet. The errors say which bound broke, name the input (without
// secrets), and whether media never came or stopped.
//
// ErrNoVideo, ErrNoAudio and ErrUnsupported end a one-shot command. With
// Config.Service (the daemon) a live input that reports them is retried
// like any other failure, the reason in its state: a camera still booting
// may serve no audio track yet, and a reconnect may miss the SPS.
//
// # One timeline
//
// Each Source has one stream timeline that starts at 0 with its first media
// and never goes backwards, whatever its inputs' timestamps do. The rule is
// kept in one place, timeline.go, which takes each packet's timestamps and
// arrival and returns its position and the gap decisions:
//
//   - Positions are the input's media time (its timestamps, unwrapped) mapped
//     by an offset per input: the streams of one input keep their relative
//     offsets, so audio that starts late is late on the timeline too.
//   - Timestamps that wrap (33-bit MPEG-TS every 26.5 h, 32-bit RTP) are
//     unwrapped by garssld: of the values a raw timestamp can stand for,
//     the one nearest the input's latest is taken. FFmpeg's own correction
//     works only relative to the first timestamp it saw, and turns a 900 s
//     step back into 26.5 h ahead; both cases come out right.
//   - A discontinuity is a step back of a stream by more than 0.5 s, or a
//     step forward beyond the input's furthest position by more than one
//     window (Config.Window) for a file, or by more than the wall-clock time
//     that passed plus one window for a live input; a wrap; or a reopen
//     (after a reconnect, or a looped file starting over). Each is counted
//     by kind in Stats.Discontinuities.
//   - At a discontinuity the input is re-anchored. A file continues where it
//     left off (its furthest position). A live input continues at the
//     arrival of its media, measured on the monotonic clock: after a
//     reconnect, the arrival of the first packet (the end of the open, when
//     FFmpeg read it while probing), never before its furthest position. A
//     stream that did not jump along (only the audio encoder restarted)
//     keeps its own mapping.
//   - A gap of up to one window is missing audio, filled with silence by the
//     windowing and counted there. A longer gap in the camera input is
//     reported to the media.Sink (Gap) and skipped: its windows are one "gap"
//     drop, and their seq numbers are skipped, so a gap in seq shows what
//     was lost. A separate microphone's gap only leaves windows silent.
//     Nothing fills a gap of hours: memory stays bounded whatever the jump.
//   - Position 0 is the arrival of the first media; the media.Sink's anchor maps
//     it to wall-clock time with a monotonic reading, so ages are measured
//     on the monotonic clock and a system clock step moves no window. Where
//     the sender says when it captured its media (RTCP sender reports:
//     start_time_realtime, read through a guarded cast of go-astiav's
//     FormatContext), the anchor follows the sender's clock once known.
//   - A live input's clock drifts against this machine's (50 ppm is 4 s a
//     day). The drift is measured, against the monotonic clock, from the
//     earliest arrival in each second of media over the last ten minutes,
//     and adopted once it stands clear of the noise: positions then advance
//     at the input's true rate, and its audio is stretched to match by the
//     resampler's soft compensation. A separate microphone thus stays with
//     its camera (Stats.DriftPPM), and windows stay on the wall clock.
//
// # Saving CPU and memory
//
// The H.264/HEVC deblocking filter is skipped on frames no other frame is
// predicted from (skip_loop_filter=noref): it cannot drift, and at the
// model's 224 px the difference does not show. It saves little (1–3 % with
// B-frames, nothing on a camera-like stream where every frame is a
// reference); skip_frame=noref saves a third with B-frames. A decode costs
// 2–7 % more CPU than the ffmpeg CLI's with the same options (make bench).
//
// Audio goes through one aresample/aformat filter graph to 16 kHz mono s16
// from any rate, layout and sample format. The resampler never pads or
// trims: a timestamp step beyond media.AudioJitter starts a new graph, and the
// windowing fills the gap, so every filled sample is counted.
//
// Video is decoded only as far as each picture target needs (gop.go,
// video.go): the packets since the last key frame are held back (at most
// GOPBufferBytes and GOPBufferDuration), and when a packet at or past the
// target arrives, the decoder is fed from the key frame the frames around
// the target depend on, then with each packet that arrives until the
// picker has chosen; with B-frames that covers the reorder delay. The
// other packets pass the decoder unopened, after the timeline placed them
// as before. The picture is the one a full decode gives (FramePickExact);
// FramePickNearestKey takes the nearest key frame within a tolerance
// instead, decoding it alone. Where key frames do not allow it (none that
// are intra pictures, further apart than the buffer, unflagged, or open
// GOPs of which two do not fit), every packet is decoded, and the pictures
// chosen meanwhile are counted by reason. Open GOPs start from the key
// frame before, so their leading pictures come out right. The first two
// key frames of a session are decoded in full, to see that they are intra
// pictures. FramePickAll decodes every frame (optionally with
// skip_frame=noref or nokey). Only the one frame
// nearest each picture target is kept — as a reference, not a copy, across
// a reconnect or a loop's seam too — and only that frame is scaled
// (swscale), turned upright as its display matrix says (as the ffmpeg CLI
// does; the reported size is the displayed one) and encoded as JPEG. Every
// packet, frame, context and graph is freed by the goroutine that made it
// before the input is reopened; nothing relies on Go finalizers.
//
// A microphone array (Config.ArrayChannels) has a second audio graph, fed
// the same frames with the same timestamps, that keeps every channel as
// planar float at the input's rate (SampleRate when that is higher); the
// array's channels are copied out by index and reach a media.ArraySink on
// the same timeline as the mono sound (array.go).
//
// FFmpeg's log goes through garssld's own callback (ffmpeg_log_cgo.go),
// which formats into a bounded buffer: go-astiav's overflows on a line
// longer than 1 KiB. A message written in pieces becomes one record, and
// the count of messages folded away is logged when their second is over.
package capture
