// Package config is garssld's typed, validated configuration, written in
// HCL native syntax (design §5).
//
// Loading goes in three steps. The file is parsed with hclparse; the
// syntax tree is walked into a Config that starts from Default (and
// DefaultStream for each stream block), recording the source range of
// every value; then the typed Config is validated, and each problem is
// reported at the range of the value that caused it, or at the enclosing
// block when the value is a default. All problems are returned together as
// a Diagnostics error whose lines read "file:line:col: message". Override
// re-runs the same validation after command-line flags replace values, and
// the flag's name stands in for the file position.
//
// Decisions where the design is silent:
//
//   - Durations are Go duration strings ("3s", "250ms"). A null value
//     (x = null) means "use the default".
//   - Unknown attributes and blocks are errors that list the valid names,
//     so a typo never silently falls back to a default.
//   - hop > window is allowed: it analyses only part of the stream, a
//     deliberate way to lower model load. hop < window overlaps windows.
//     Both must be whole numbers of 16 kHz samples (multiples of 62.5µs)
//     so that every window holds exactly window×16000 samples; window is at
//     least 500ms (MinWindow; less sound than that cannot be classified)
//     and at most 30s, the longest clip a Whisper-style audio encoder such
//     as Qwen2.5-Omni's takes in one piece.
//   - One rule per attribute: the Check* functions are shared by the
//     loader and the commands' flags, so a flag is refused with the file's
//     message, the flag named in place of the attribute's path
//     ("--window = 31s is too long; use at most 30s"). Override's
//     diagnostics read the same way; a value wrong for every stream is
//     reported once.
//   - A file that holds NUL bytes or is not UTF-8 is "not a text file";
//     Diagnostics.Error lists the first 20 problems and counts the rest.
//   - gar.model_size is a multiple of 28 from 28 to 1792 (64×64 patches,
//     4096 image tokens, far beyond the design's request budget).
//   - gar.silence_dbfs is in [-120, 0]; -120 gates only digital silence.
//     gar.temperature is in [0, 2] and gar.top_p in (0, 1], as the
//     OpenAI API accepts.
//   - camera.hfov_deg is in (0, 180): bearings use a pinhole model.
//   - stream.frame_pick is exact (default), nearest_key or all;
//     frame_tolerance is above 0s up to 0.5s, capture's own bound on a
//     picture's distance from its window's centre. skip_frame with exact
//     is refused: an exact picture is a full decode's, and GOP-aware
//     decoding leaves nothing to skip.
//   - stream.decoder_threads is 0 (FFmpeg picks, one per CPU) to 16,
//     FFmpeg's own cap; the default 1 suits real-time streams (Stream
//     says why; scripts/bench-daemon.sh measures it).
//   - shutdown_timeout is 0s to 5m (default 10s): the grace `run` gives
//     windows at the model when told to stop; past minutes, systemd would
//     take a stopping daemon for a hung one.
//   - stream.realtime (default true) reads a file at the media's rate, as
//     a camera delivers it; false (as fast as it decodes) is refused for
//     live inputs, which arrive at their own rate. stream.enabled (default
//     true) false starts a stream paused, to be enabled over MQTT.
//   - mic_array: 2 to 16 positions [x, y, z] in metres (REP 103), each
//     coordinate within ±5 m (a larger one is millimetres written as
//     metres), none within 1 mm of another; channels default to the first
//     len(positions), one per position, distinct, 0 to 63, and below a
//     "channels" option the same input is opened with (whether the input
//     has them is capture's check, at open). yaw_offset_deg in (-180,
//     180], pitch_offset_deg in [-90, 90], tolerance_deg in (0, 180]
//     (default 15), hint default true, max_sources 1 to 4 (default 1).
//   - Stream names and node_id are single MQTT topic levels
//     ([A-Za-z0-9_-]+); node_id defaults to the host name's first label
//     with other characters replaced by "_". mqtt.client_id defaults to
//     "garssld-<node_id>".
//   - mqtt.topic_prefix may have several levels but no wildcards, empty
//     levels, leading or trailing "/" or leading "$" (broker topics).
//   - Model endpoints and the broker URL must not carry credentials, in the
//     user info or in the query (a parameter named like pass, token, key,
//     secret, sig, auth or cred); api_key_file, username and password_file
//     exist for that. Stream inputs may (RTSP cameras need them); their user
//     info and such query values are redacted in messages and in String
//     (internal/redact). A URL that does not parse is refused without being
//     quoted. mllm.endpoints lose trailing slashes.
//   - Stream inputs and audio: a device ("v4l2:", "alsa:", "pulse:") must
//     name one; a local file must exist and not be a directory (a file
//     check). Device nodes under /dev and FFmpeg protocols such as pipe:
//     are left to capture, since a USB camera may be plugged in late.
//   - A tls block requires a TLS broker scheme (ssl, tls, mqtts, wss).
//   - mqtt.max_age is 0 (keep everything) to 168h.
//   - mqtt.max_reconnect_interval is 1s to 10m: the backoff reaches 1-2 s
//     after its fast phase, and 10m keeps a robot back in range offline
//     for nothing.
//   - Referenced files (api_key_file, password_file, tls files) must be
//     readable regular files, and secrets non-empty, unless SkipFileChecks
//     is given; paths are used as written, relative to the working
//     directory. mqtt.store_dir is created by the daemon; it may be
//     missing, but if something exists there it must be a directory.
//   - mqtt.client_id is at most 256 bytes (MQTT allows 65535, brokers must
//     accept 23); stream names at most 64 and mqtt.topic_prefix at most 128
//     bytes, so that no topic nears MQTT's 65535 (where paho cuts it
//     silently).
//   - mqtt.confirm_within is 1s to 10m (checked only with verify_delivery);
//     mqtt.max_message_bytes is 1 KiB to MQTT's 256 MiB.
//   - File attributes may use ${CREDENTIALS_DIRECTORY}, and no other
//     interpolation, for secrets systemd passes with LoadCredential=. It is
//     expanded at load; unset, it is an error unless SkipFileChecks is
//     given, which keeps the text as written.
//   - Secrets are never read into Config: MLLM.APIKey and MQTT.Password
//     read them when the caller needs them.
//   - Parse, LoadFile and Validate accept a config without streams, which
//     `locate` needs; ValidateForRun also requires one.
package config
