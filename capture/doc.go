// Package capture turns camera and microphone inputs into decoded media on a
// common timeline. It is the only package that touches FFmpeg (through
// go-astiav): every FFmpeg object is allocated, used and freed here, and what
// leaves the package is plain Go values — 16 kHz mono s16 samples and JPEG
// pictures — handed to a Sink.
//
// # Inputs
//
// An input is a path or URL FFmpeg can open (files, rtsp://, udp:// and srt://
// MPEG-TS, http(s)://) or a device written as "<demuxer>:<device>":
// "v4l2:/dev/video0", "alsa:hw:1,0", "pulse:default". Local files are finite:
// they end at EOF, or start again when Loop is set. Everything else is live:
// an error, EOF or a stall (no packet for StallTimeout) closes the input and
// reopens it after a capped, jittered exponential backoff (1 s doubling to
// 30 s, reset once the input delivers media again).
//
// # One timeline
//
// Each Source has a timeline that starts at 0 with its first media. The
// position of a decoded frame is its PTS minus the input's origin (the
// smallest start time of the streams in use) plus the input's offset. Both
// streams of one input keep their relative offsets, so audio that starts late
// is late on the timeline too and the gap becomes silence in the window.
//
// A separate audio input (camera on V4L2, microphone on ALSA) has its own
// origin; its offset is the difference between the arrival times of the two
// inputs' first packets (0 for files, which both start at the beginning).
// After a live input reopens, its offset is the wall time elapsed since the
// timeline's anchor, so positions keep following the wall clock across an
// outage, and the Sink is told about the discontinuity. The anchor — the wall
// time of position 0 — is the arrival time of the first packet: go-astiav
// v0.16.0 does not expose AVFormatContext.start_time_realtime (RTCP sender
// reports), so the design's preferred anchor is not available.
//
// # Saving CPU and memory
//
// The H.264/HEVC deblocking filter is skipped on frames no other frame is
// predicted from (skip_loop_filter=noref): it cannot drift, and at the
// model's 224 px the difference does not show. It brings a default decode
// below the CPU of FFmpeg's own full decode (make bench).
//
// Audio goes through one aresample/aformat filter graph to 16 kHz mono s16
// from any rate, layout and sample format. Video is decoded (optionally with
// skip_frame=noref or nokey) but only the one frame nearest each picture
// target is kept — as a reference, not a copy — and only that frame is scaled
// (swscale) and encoded as JPEG. Every packet, frame, context and graph is
// freed by the goroutine that made it before the input is reopened; nothing
// relies on Go finalizers.
package capture
