#!/usr/bin/env bash
# The daemon under load (issue 8): `garssld run` over live 720p30 H.264 + AAC
# streams, each sent over UDP by its own `ffmpeg -re -stream_loop -1 -c copy`
# like a camera, against omnisim at its default latency model and a private
# mosquitto. For every row it reports the daemon's CPU (user+sys over the
# measured interval, from /proc/PID/stat, per stream as % of one core), its
# peak RSS (VmHWM), result age at publish p50/p99 (latency_ms.age_at_publish
# of every detection a subscriber received), the GAR loop's time per window
# p50/p99 (latency_ms.total), the model's latency per window p50/p99 on
# omnisim's *simulated* latency model (rebuilt from omnisim's per-request
# log), and where every window went, with the load the rest of the machine
# put on it meanwhile.
#
# The camera clip: 720p30, x264 -bf 0 -g 60 (no B-frames, 2 s GOP, 3 Mbit/s):
# what IP cameras send for low latency. Every frame is then a reference, so
# skip_frame = "noref" skips nothing. The "B-frames" row changes only the
# clip (x264's defaults, as files and phones have). Streams decode with
# frame_pick = "exact" (the default: only the packets each window's picture
# depends on); run-4-all decodes every frame with skip_frame = "noref", as
# garssld did before GOP-aware decoding (issue 17): its CPU and peak RSS are
# the same-run baseline of run-4.
#
# Rows change one factor at a time against run-4; the CPU ratio is against
# `garssld dump --frame-pick all --skip-frame noref --threads 1` of the same clip (capture and
# windowing only, no model, read as fast as it decodes, decoded on one
# thread as run does by default), measured in the same run:
#   ffmpeg-decode       ffmpeg -threads 1 -skip_loop_filter noref -skip_frame noref -i F -f null -
#   dump                garssld dump --frame-pick all --skip-frame noref --threads 1  (the baseline)
#   run-1               garssld run, 1 stream
#   run-4               garssld run, 4 streams                       (the goal row)
#   run-4-all           run-4 with frame_pick = "all" and skip_frame = "noref":
#                       every frame decoded, as before issue 17
#   run-4-nearest-key   run-4 with frame_pick = "nearest_key"
#   run-4-threads-auto  run-4 with decoder_threads = 0 (FFmpeg picks, the
#                       behaviour before decoder_threads; its default is 1)
#   run-4-inflight-4    run-4 with mllm.max_in_flight = 4 (the design's
#                       value; garssld's default is 8): four windows asking
#                       locate and audio at once wait for request slots
#   run-4-bframes       run-4 on the B-frames clip
#   run-4-gop1s         run-4 on a camera clip with a 1 s GOP (-g 30): exact
#                       decodes from the key frame to a window's centre, so
#                       its cost follows the camera's GOP
#   run-4-gop1s-all     run-4-all on the same 1 s GOP clip: its baseline
#   run-4-overload      issue 13's overload: 4 streams, omnisim slowed to
#                       about 5 s a window (*simulated*), max_in_flight = 1,
#                       max_queue = 3, stale_after = "6s"; reports the model
#                       requests wasted (cut or failed), each stream's share
#                       of ok detections, ages, and /readyz sampled every 5 s
#   run-4-view-off      run-4 again (the view is off in every row but the next),
#                       measured beside run-4-view-16: the live view's baseline
#   run-4-view-16       run-4 with the live view on and 16 viewers following
#                       /events (curl, not browsers) for the whole run: issue
#                       16's CPU and memory goals are its growth over
#                       run-4-view-off; the ring's own size is read back
#                       from the media of the last windows each stream kept
# The ffmpeg senders, omnisim and mosquitto run as their own processes and
# are not counted. At the end of the interval the senders stop (the cameras
# go away), the windows already cut drain through the model, and the
# accounting (windows cut = published + dropped with a reason) is read from
# /metrics; then garssld gets SIGTERM and must exit 0.
#
#   BENCH_SECONDS  measured interval per run row (default 180)
#   BENCH_WARMUP   seconds before the interval starts (default 15)
#   BENCH_ROWS     which run rows (default: all of them)
#   RUNS           runs of the ffmpeg and dump rows; the median is kept (3)
# Quick run: BENCH_SECONDS=30 BENCH_ROWS=run-4 RUNS=1 ./scripts/bench-daemon.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
DURATION=${BENCH_SECONDS:-180}
WARMUP=${BENCH_WARMUP:-15}
ROWS=${BENCH_ROWS:-run-1 run-4 run-4-all run-4-nearest-key run-4-threads-auto run-4-inflight-4 run-4-bframes run-4-gop1s-all run-4-gop1s run-4-overload run-4-view-off run-4-view-16}
# omnisim's --time-scale for the overload row: its default latency model at
# 2.65× gives about 5 s per window with one request at a time.
OVERLOAD_TIME_SCALE=${BENCH_OVERLOAD_TIME_SCALE:-2.65}
RUNS=${RUNS:-3}
cache=${BENCH_CACHE:-/var/tmp/garssld-bench}
mkdir -p "$cache"
tick=$(getconf CLK_TCK)

camera=$(make_clip "$cache/720p30-60s-bf0.ts" 1280x720 30 -bf 0 -g 60 -b:v 3M -maxrate 3M -bufsize 6M -b:a 96k)
bframes=$(make_clip "$cache/720p30-60s.ts" 1280x720 30 -b:v 3M -maxrate 3M -bufsize 6M -b:a 96k)
gop1s=$(make_clip "$cache/720p30-60s-bf0-g30.ts" 1280x720 30 -bf 0 -g 30 -sc_threshold 0 -b:v 3M -maxrate 3M -bufsize 6M -b:a 96k)

out=$(mktemp -d /tmp/garssld-bench-daemon.XXXXXX)
trap stop_pids EXIT

# free_udp_port: a UDP port no socket is bound to (from /proc/net/udp*,
# so that no tool beyond coreutils is needed).
free_udp_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 40000))
		awk -v p="$(printf ':%04X' "$p")" 'FNR > 1 && substr($2, length($2) - 4) == p {found = 1} END {exit !found}' \
			/proc/net/udp /proc/net/udp6 || { echo "$p"; return 0; }
	done
	return 1
}

# cpu_ticks PID…: user+sys clock ticks of the PIDs, all their threads.
cpu_ticks() {
	local pid t=0
	for pid in "$@"; do t=$((t + $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}'))); done
	echo "$t"
}

# busy_ticks: clock ticks the whole machine spent busy (user, nice,
# system, irq, softirq, steal).
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

# model_ms OMNISIM-LOG: per window "stream seq simulated-ms", the model's
# latency for the window on omnisim's *simulated* latency model, rebuilt
# from omnisim's "answered" lines (request id <node>/<stream>/<seq>/<stage>
# [/s<k>][/t<i>][/a<j>]) along the critical path of the default parallel
# schedule: max(locate, audio) + the slowest source's analysis (its slowest
# trial) + refine; attempts of one request add up.
model_ms() {
	jq -R -r 'fromjson? | select(."@message" == "answered") | [.request_id, .simulated_ms] | @tsv' "$1" | awk -F'\t' '
	{
		n = split($1, p, "/"); w = p[2] "\t" p[3]; stage = p[4]; s = 0; t = 0
		for (i = 5; i <= n; i++) {
			if (p[i] ~ /^s[0-9]+$/) s = substr(p[i], 2)
			else if (p[i] ~ /^t[0-9]+$/) t = substr(p[i], 2)
		}
		req[w, stage, s, t] += $2; win[w] = 1
	}
	END {
		for (k in req) {
			split(k, q, SUBSEP); w = q[1]; stage = q[2]; s = q[3]
			if (stage == "locate" || stage == "audio") { if (req[k] > first[w, stage]) first[w, stage] = req[k] }
			else if (stage == "analysis") { if (req[k] > an[w, s]) an[w, s] = req[k]; src[w, s] = 1 }
			else if (stage == "refine") { rf[w, s] += req[k]; src[w, s] = 1 }
		}
		for (k in src) { split(k, q, SUBSEP); v = an[k] + rf[k]; if (v > rest[q[1]]) rest[q[1]] = v }
		for (w in win) {
			l = first[w, "locate"]; a = first[w, "audio"]
			printf "%s\t%.0f\n", w, (l > a ? l : a) + rest[w]
		}
	}'
}

# msum FILE FAMILY [REGEX]: the sum of FAMILY's samples in a /metrics
# scrape whose label set matches REGEX.
msum() {
	awk -v f="$2" -v re="${3:-.}" '/^#/ {next} {n = $1; sub(/\{.*/, "", n)} n == f && $1 ~ re {s += $2} END {printf "%.0f\n", s}' "$1"
}

# drops FILE: windows_dropped_total by reason, "reason=n …", zeros left out.
drops() {
	awk '/^garssl_windows_dropped_total\{/ {
		match($1, /reason="[^"]*"/); r = substr($1, RSTART + 8, RLENGTH - 9); s[r] += $2
	} END {for (r in s) if (s[r] > 0) printf "%s=%d ", r, s[r]}' "$1" | sed 's/ $//'
}

# Reasons windowing counts for windows it could not cut; the others are
# the scheduler's, for windows that were cut.
cut_failures='reason="(no_frame|gap)"'

# pct P: the P-quantile (nearest rank) of the numbers on stdin, "-" if none.
pct() { sort -n | awk -v p="$1" '{a[NR] = $1} END {if (!NR) {print "-"; exit} i = int(p * NR + 0.999999); print a[i < 1 ? 1 : i]}'; }

# run_row NAME STREAMS CLIP [STREAM-ATTRS [MLLM-ATTRS [OMNISIM-ARGS [HTTP-ATTRS
# [VIEWERS]]]]]: one garssld run row, the attributes (HCL lines) added to
# each stream block, to the mllm block and to the http block, omnisim's
# extra flags, and how many live view pages (curl on /events) follow the
# daemon from its start to its stop; appends to $out/rows, $out/accounts,
# $out/drops, $out/overload and $out/view.
run_row() {
	# The live view is off unless a row turns it on: issue 17's baselines
	# are measured without it, and its own rows compare against the same.
	local name=$1 n=$2 clip=$3 stream_attrs=${4:-} mllm_attrs=${5:-} omnisim_args=${6:-} http_attrs=${7:-'  view = false\n'} viewers=${8:-0} dir="$out/$1"
	mkdir -p "$dir"
	echo "== $name: garssld run, $n stream(s) of $(basename "$clip"), ${DURATION} s measured after ${WARMUP} s" >&2
	# Debug logging gives one "answered" line per request with its request
	# id and simulated_ms, from which the model's latency per window is
	# rebuilt.
	# shellcheck disable=SC2086 # omnisim_args is a list of flags
	start_omnisim "$dir" --seed 7 --log-level debug --log-json $omnisim_args
	pids+=("$omnisim_pid")
	start_mosquitto "$dir"
	pids+=("$mosquitto_pid")

	local senders=() streams=() port i
	{
		printf 'node_id = "bench"\n'
		printf 'log {\n  level = "info"\n  format = "json"\n}\n'
		printf 'mllm {\n  endpoints = ["%s"]\n  model = "Qwen/Qwen2.5-Omni-7B"\n%b}\n' "$omnisim_url" "$mllm_attrs"
		printf 'mqtt {\n  broker = "tcp://127.0.0.1:%d"\n  store_dir = "%s"\n}\n' "$mosquitto_port" "$dir/mqtt"
		printf 'http {\n  listen = "127.0.0.1:0"\n%b}\n' "$http_attrs"
	} >"$dir/garssld.hcl"
	for i in $(seq "$n"); do
		port=$(free_udp_port) || fail "no free UDP port"
		printf 'stream "cam%d" {\n  input = "udp://127.0.0.1:%d"\n%b}\n' "$i" "$port" "$stream_attrs" >>"$dir/garssld.hcl"
		streams+=("cam$i")
		# The cameras are on before the daemon starts, as on a robot.
		ffmpeg -nostdin -hide_banner -loglevel error -re -stream_loop -1 -i "$clip" -c copy \
			-f mpegts "udp://127.0.0.1:$port?pkt_size=1316" 2>>"$dir/senders.log" &
		senders+=($!)
		pids+=($!)
	done
	bin/garssld check --config "$dir/garssld.hcl" >/dev/null

	# Subscribe first, so that no detection is missed; the probe shows the
	# subscription is in place.
	mosquitto_sub -h 127.0.0.1 -p "$mosquitto_port" -q 1 -F '%U %t %p' -t 'garssl/bench/+/detections' -t garssl/bench/probe >"$dir/sub.txt" 2>"$dir/sub.log" &
	local sub=$!
	pids+=("$sub")
	for _ in $(seq 50); do
		mosquitto_pub -h 127.0.0.1 -p "$mosquitto_port" -t garssl/bench/probe -m probe
		grep -q ' garssl/bench/probe ' "$dir/sub.txt" && break
		sleep 0.1
	done
	grep -q ' garssl/bench/probe ' "$dir/sub.txt" || fail "mosquitto_sub did not subscribe" "$dir/sub.log"

	bin/garssld run --config "$dir/garssld.hcl" 2>"$dir/garssld.log" &
	local gpid=$!
	pids+=("$gpid")
	for _ in $(seq 100); do grep -q '"garssld is running"' "$dir/garssld.log" && break; sleep 0.1; done
	grep -q '"garssld is running"' "$dir/garssld.log" || fail "garssld did not start" "$dir/garssld.log"
	local http trun
	http=$(grep '"garssld is running"' "$dir/garssld.log" | jq -r .http)
	trun=$(date +%s.%N)
	local vpids=() v
	for v in $(seq "$viewers"); do
		curl -sN "http://$http/events" >"$dir/viewer$v.sse" 2>>"$dir/viewers.log" &
		vpids+=($!)
		pids+=($!)
	done

	# The load: the 1-minute load average, sampled every 5 s, and the CPU
	# the rest of the machine (other helpers' builds and tests) took, in
	# cores: busy time less garssld's and this row's other processes'.
	sleep "$WARMUP"
	local ours=("$omnisim_pid" "$mosquitto_pid" "$sub" "${senders[@]}" "${vpids[@]}")
	local c0 t0 c1 t1 o0 o1 b0 b1 loadmax left step
	loadmax=$(cut -d' ' -f1 /proc/loadavg)
	c0=$(cpu_ticks "$gpid")
	curl -fsS "http://$http/metrics" >"$dir/metrics0.txt"
	o0=$(cpu_ticks "${ours[@]}")
	b0=$(busy_ticks)
	t0=$(date +%s.%N)
	left=$DURATION
	: >"$dir/readyz.txt"
	while [ "$left" -gt 0 ]; do
		step=$((left < 5 ? left : 5))
		sleep "$step"
		left=$((left - step))
		loadmax=$(awk -v m="$loadmax" '{print ($1 > m ? $1 : m)}' /proc/loadavg)
		curl -s -o "$dir/readyz.json" -w '%{http_code}\n' "http://$http/readyz" >>"$dir/readyz.txt" || true
		jq -r '.warnings[]?' "$dir/readyz.json" >>"$dir/warnings.txt" 2>/dev/null || true
	done
	c1=$(cpu_ticks "$gpid")
	curl -fsS "http://$http/metrics" >"$dir/metrics1.txt"
	o1=$(cpu_ticks "${ours[@]}")
	b1=$(busy_ticks)
	t1=$(date +%s.%N)

	# The cameras go away; what was cut drains through the model.
	kill "${senders[@]}"
	local expected
	expected=$(awk -v a="$trun" -v b="$(date +%s.%N)" -v n="$n" 'BEGIN {printf "%d", n * int((b - a) / 3)}')
	# Drained: every window cut is published or dropped, in two scrapes a
	# second apart (the last packets may still be on their way in).
	local m="$dir/metrics.txt" cut published scheddrops queued settled=0 last=""
	sleep 1
	for _ in $(seq 60); do
		curl -fsS "http://$http/metrics" >"$m"
		cut=$(msum "$m" garssl_windows_cut_total)
		published=$(msum "$m" garssl_windows_total)
		scheddrops=$(($(msum "$m" garssl_windows_dropped_total) - $(msum "$m" garssl_windows_dropped_total "$cut_failures")))
		queued=$(msum "$m" garssl_queued_windows)
		if [ "$cut" -eq $((published + scheddrops)) ] && [ "$queued" -eq 0 ] && [ "$last" = "$cut $published" ]; then
			settled=1
			break
		fi
		last="$cut $published"
		sleep 1
	done
	[ "$settled" = 1 ] || fail "$name: windows did not drain in 60 s: cut $cut, published $published, dropped $scheddrops" "$dir/garssld.log"
	# Peak RSS, and what the resident memory is made of at the end: file
	# pages are mostly shared libraries (FFmpeg links some 150).
	local hwm anon file threads
	threads=$(awk '/^Threads:/ {print $2}' "/proc/$gpid/status")
	hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$gpid/status")
	anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$gpid/status")
	file=$(awk '/^RssFile:/ {print $2}' "/proc/$gpid/status")
	curl -fsS "${omnisim_url%/v1}/stats" >"$dir/omnisim-stats.json"
	if [ "$viewers" -gt 0 ]; then
		# The ring's own size: the media of the windows it keeps, fetched back
		# (every detection event names its window's files; the last
		# http.view_windows of each stream are still kept).
		local connected ring=0 url
		connected=$(msum "$m" garssl_view_viewers)
		while read -r url; do
			ring=$((ring + $(curl -fsS -o /dev/null -w '%{size_download}' "http://$http$url" || echo 0)))
		done < <(grep '^data: ' "$dir/viewer1.sse" | sed 's/^data: //' | jq -r 'select(.media) | [.stream, .media.model, .media.frame // empty, .media.audio] | @tsv' |
			awk -F'\t' '{n[$1]++; line[$1, n[$1]] = $0} END {for (s in n) for (i = (n[s] > 20 ? n[s] - 19 : 1); i <= n[s]; i++) {k = split(line[s, i], f, "\t"); for (j = 2; j <= k; j++) print f[j]}}')
		local events=()
		for v in $(seq "$viewers"); do events+=("$(grep -c '^event: detection' "$dir/viewer$v.sse" || true)"); done
		echo "$name $viewers $connected $ring $(printf '%s\n' "${events[@]}" | sort -n | head -n 1) $(printf '%s\n' "${events[@]}" | sort -n | tail -n 1)" >>"$out/view"
	fi

	kill -TERM "$gpid"
	local code=0
	wait "$gpid" || code=$?
	[ "$code" -eq 0 ] || fail "$name: garssld exited with status $code after SIGTERM" "$dir/garssld.log"
	# Detections published at shutdown are on their way; wait for them.
	local received=0
	for _ in $(seq 100); do
		received=$(grep -c '/detections ' "$dir/sub.txt" || true)
		[ "$received" -ge "$published" ] && break
		sleep 0.1
	done
	kill "$sub" "$omnisim_pid" "$mosquitto_pid" 2>/dev/null || true
	wait "$sub" "$omnisim_pid" "$mosquitto_pid" 2>/dev/null || true

	# Each line: the subscriber's receive time, the topic, the payload. The
	# age at the subscriber (receive time − window end, one clock) adds
	# paho and the broker to the age at publish.
	grep '/detections ' "$dir/sub.txt" | jq -R -r '
		def unix: capture("^(?<s>[^.]*[0-9]{2}:[0-9]{2}:[0-9]{2})(?<f>\\.[0-9]+)?(?<z>.*)$") |
			if .z != "Z" then error("window.end not in UTC: \(.z)") else . end |
			((.s + "Z") | fromdateiso8601) + ((.f // "0") | tonumber);
		capture("^(?<recv>[^ ]+) [^ ]+ (?<payload>.*)$") | (.recv | tonumber) as $recv | .payload | fromjson |
		[.stream, .seq, .status, .latency_ms.age_at_publish, .latency_ms.total, .run_id,
		 ((($recv - (.window.end | unix)) * 1000) | floor)] | @tsv' >"$dir/detections.tsv"
	# The *simulated* model latency of each published window that went to
	# the model (silent ones did not); the GAR loop's own time
	# (latency_ms.total, which adds HTTP, JSON and waits for a request slot)
	# can never be below it.
	model_ms "$dir/omnisim.log" | sort >"$dir/model.tsv"
	awk -F'\t' 'NR == FNR {m[$1 "\t" $2] = $3; next} ($1 "\t" $2) in m {print $0 "\t" m[$1 "\t" $2]}' \
		"$dir/model.tsv" "$dir/detections.tsv" >"$dir/joined.tsv"
	local below
	below=$(awk -F'\t' '$5 < $8 {n++} END {print n + 0}' "$dir/joined.tsv")
	[ "$below" -eq 0 ] || echo "bench-daemon: $name: $below windows whose GAR time is below their simulated model latency; see $dir/joined.tsv" >&2
	local age50 age99 tot50 tot99 sim50 sim99 sub50 sub99 distinct unexplained=0 s
	age50=$(cut -f4 "$dir/detections.tsv" | pct 0.50)
	age99=$(cut -f4 "$dir/detections.tsv" | pct 0.99)
	tot50=$(cut -f5 "$dir/joined.tsv" | pct 0.50)
	tot99=$(cut -f5 "$dir/joined.tsv" | pct 0.99)
	sim50=$(cut -f8 "$dir/joined.tsv" | pct 0.50)
	sim99=$(cut -f8 "$dir/joined.tsv" | pct 0.99)
	sub50=$(cut -f7 "$dir/detections.tsv" | pct 0.50)
	sub99=$(cut -f7 "$dir/detections.tsv" | pct 0.99)
	distinct=$(cut -f1,2,6 "$dir/detections.tsv" | sort -u | wc -l)
	# Loss without a reason: a seq below a stream's highest received one that
	# never arrived, beyond what the stream's drops explain.
	for s in "${streams[@]}"; do
		local seqs high got dropped
		seqs=$(awk -v s="$s" '$1 == s {print $2}' "$dir/detections.tsv" | sort -nu)
		got=$(grep -c . <<<"$seqs" || true)
		high=$(tail -n 1 <<<"$seqs")
		dropped=$(msum "$m" garssl_windows_dropped_total "stream=\"$s\"")
		[ -n "$high" ] && [ $((high - got)) -gt "$dropped" ] && unexplained=$((unexplained + high - got - dropped))
	done

	local cpu_pct others
	cpu_pct=$(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" -v hz="$tick" -v n="$n" 'BEGIN {printf "%.2f", (b - a) / hz / (t1 - t0) / n * 100}')
	others=$(awk -v b="$((b1 - b0 - (c1 - c0) - (o1 - o0)))" -v t0="$t0" -v t1="$t1" -v hz="$tick" 'BEGIN {printf "%.2f", b / hz / (t1 - t0)}')
	# The share of the video packets the decoders opened in the interval
	# (every clip is 30 fps). With frame_pick = "exact" it follows where the
	# camera's key frames fall against the windows' centres, which changes
	# from run to run: the CPU figure is to be read with it.
	local decoded
	decoded=$(awk -v a="$(msum "$dir/metrics0.txt" garssl_capture_video_packets_decoded_total)" -v b="$(msum "$dir/metrics1.txt" garssl_capture_video_packets_decoded_total)" \
		-v t0="$t0" -v t1="$t1" -v n="$n" 'BEGIN {printf "%.0f", (b - a) / (30 * (t1 - t0) * n) * 100}')
	echo "$name $n $clip $cpu_pct $hwm $anon $file $threads $age50 $age99 $tot50 $tot99 $sim50 $sim99 $sub50 $sub99 $decoded" >>"$out/rows"
	echo "$name $expected $cut $published $scheddrops $(msum "$m" garssl_windows_dropped_total "$cut_failures") $received $distinct $unexplained $(msum "$m" garssl_mqtt_messages_dropped_total) $(msum "$m" garssl_capture_decode_errors_total) $(msum "$m" garssl_capture_reconnects_total) $(jq .requests "$dir/omnisim-stats.json") $(jq .cancelled "$dir/omnisim-stats.json") $below $loadmax $others" >>"$out/accounts"
	echo "$name $(drops "$m")" >>"$out/drops"
	awk -F'\t' '{print $3}' "$dir/detections.tsv" | sort | uniq -c | awk -v r="$name" '{printf "%s %s=%d\n", r, $2, $1}' >>"$out/statuses"
	# Overload figures: model requests by result (wasted = not ok), each
	# stream's ok detections, the oldest result, /readyz samples.
	local requests wasted shares agemax notready unavailable open
	requests=$(msum "$m" garssl_mllm_requests_total)
	wasted=$((requests - $(msum "$m" garssl_mllm_requests_total 'result="ok"')))
	shares=$(awk -F'\t' '$3 == "ok" {n[$1]++; t++} END {for (s in n) printf "%s=%d(%.0f%%),", s, n[s], 100 * n[s] / t}' "$dir/detections.tsv" | sed 's/,$//')
	agemax=$(cut -f4 "$dir/detections.tsv" | sort -n | tail -n 1)
	notready=$(grep -vc '^200$' "$dir/readyz.txt" || true)
	unavailable=$(msum "$m" garssl_windows_total 'outcome="mllm_unavailable"')
	open=$(msum "$m" garssl_mllm_breaker_state 'state="open"')
	echo "$name $requests $wasted ${agemax:--} $(grep -c . "$dir/readyz.txt") $notready $unavailable $open $(sort -u "$dir/warnings.txt" 2>/dev/null | wc -l) ${shares:-none}" >>"$out/overload"
}

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
ff="ffmpeg -nostdin -hide_banner -loglevel error"
for c in "$camera" "$bframes" "$gop1s"; do
	measure_median "$RUNS" "$out" "ffmpeg-decode" $ff -threads 1 -skip_loop_filter noref -skip_frame noref -i "$c" -f null - >>"$out/base-$(basename "$c")"
	measure_median "$RUNS" "$out" "dump" bin/garssld dump --input "$c" --out "$out/w" --frame-pick all --skip-frame noref --threads 1 >>"$out/base-$(basename "$c")"
done
for row in $ROWS; do
	case $row in
	run-1) run_row run-1 1 "$camera" ;;
	run-4) run_row run-4 4 "$camera" ;;
	run-4-all) run_row run-4-all 4 "$camera" '  frame_pick = "all"\n  skip_frame = "noref"\n' ;;
	run-4-nearest-key) run_row run-4-nearest-key 4 "$camera" '  frame_pick = "nearest_key"\n' ;;
	run-4-threads-auto) run_row run-4-threads-auto 4 "$camera" '  decoder_threads = 0\n' ;;
	run-4-inflight-4) run_row run-4-inflight-4 4 "$camera" '' '  max_in_flight = 4\n' ;;
	run-4-bframes) run_row run-4-bframes 4 "$bframes" ;;
	run-4-gop1s) run_row run-4-gop1s 4 "$gop1s" ;;
	run-4-gop1s-all) run_row run-4-gop1s-all 4 "$gop1s" '  frame_pick = "all"\n  skip_frame = "noref"\n' ;;
	run-4-overload) run_row run-4-overload 4 "$camera" '  max_queue = 3\n  stale_after = "6s"\n' '  max_in_flight = 1\n' "--time-scale $OVERLOAD_TIME_SCALE" ;;
	run-4-view-off) run_row run-4-view-off 4 "$camera" '' '' '' '  view = false\n' ;;
	run-4-view-16) run_row run-4-view-16 4 "$camera" '' '' '' '  view = true\n' 16 ;;
	*) fail "BENCH_ROWS: unknown row $row (run-1, run-4, run-4-all, run-4-nearest-key, run-4-threads-auto, run-4-inflight-4, run-4-bframes, run-4-gop1s, run-4-gop1s-all, run-4-overload, run-4-view-off, run-4-view-16)" ;;
	esac
done

echo
echo "garssld run over live 1280x720@30 H.264 + AAC via UDP, frame_pick = \"exact\" unless the row says, omnisim default latency model"
echo "(CPU: user+sys over ${DURATION} s after ${WARMUP} s warm-up, per stream, % of one core; ratio against"
echo " garssld dump --frame-pick all --skip-frame noref --threads 1 of the same clip, % of one core at real time, median of $RUNS runs."
echo " RSS: peak (VmHWM) in MiB; anon/file: resident anonymous and file-backed MiB, and threads, at the end."
echo " Milliseconds; age and sub over every received detection, gar and model over those that went to the model:"
echo "   age   = latency_ms.age_at_publish (publish hand-over − window.end, the daemon's clock)"
echo "   gar   = latency_ms.total, the GAR loop's time for the window as the daemon measured it"
echo "   model = the window's latency on omnisim's *simulated* latency model (its requests' simulated_ms"
echo "           along the schedule's critical path); starred columns are *simulated*"
echo "   sub   = the subscriber's receive time − window.end (adds paho and the broker)"
echo " decoded: % of the video packets sent to the decoder over the interval (30 fps × interval × streams))"
printf '%-18s %-22s %7s %10s %6s %8s %14s %7s %8s %8s %8s %8s %11s %11s %8s %8s %8s\n' row clip streams cpu%/strm ratio rss_MiB 'anon/file_MiB' threads age_p50 age_p99 gar_p50 gar_p99 model_p50* model_p99* sub_p50 sub_p99 decoded%
for c in "$camera" "$bframes" "$gop1s"; do
	base="$out/base-$(basename "$c")"
	read -r _ dcpu _ < <(grep '^dump ' "$base")
	while read -r name cpu rss; do
		printf '%-18s %-22s %7s %10.2f %6.2f %8.1f %14s %7s %8s %8s %8s %8s %11s %11s %8s %8s %8s\n' "$name" "$(basename "$c")" - \
			"$(awk -v c="$cpu" 'BEGIN {print c / 60 * 100}')" "$(awk -v a="$cpu" -v b="$dcpu" 'BEGIN {print a / b}')" \
			"$(awk -v r="$rss" 'BEGIN {print r / 1024}')" - - - - - - - - - - -
	done <"$base"
	while read -r name n clip cpu hwm anon file th a50 a99 t50 t99 m50 m99 s50 s99 dec; do
		[ "$clip" = "$c" ] || continue
		printf '%-18s %-22s %7d %10.2f %6.2f %8.1f %14s %7s %8s %8s %8s %8s %11s %11s %8s %8s %8s\n' "$name" "$(basename "$clip")" "$n" "$cpu" \
			"$(awk -v a="$cpu" -v b="$dcpu" 'BEGIN {print a / (b / 60 * 100)}')" "$(awk -v r="$hwm" 'BEGIN {print r / 1024}')" \
			"$(awk -v a="$anon" -v f="$file" 'BEGIN {printf "%.1f/%.1f", a / 1024, f / 1024}')" "$th" "$a50" "$a99" "$t50" "$t99" "$m50" "$m99" "$s50" "$s99" "$dec"
	done <"$out/rows"
done

echo
echo "where the windows went (cut = published + dropped; cut failures are windows windowing could not cut;"
echo " media ≈ 3-second windows the senders sent while garssld ran; gar<model: windows whose GAR time was below"
echo " their simulated model latency, which must be 0; others: cores the rest of the machine used meanwhile)"
printf '%-18s %7s %6s %9s %8s %12s %9s %8s %11s %10s %11s %10s %9s %9s %9s %8s %7s\n' row media≈ cut published dropped cut_failures received distinct unexplained mqtt_drops decode_errs reconnects model_reqs cancelled "gar<model" load_max others
while read -r name ex cut pub dr cf rec dis une mq de rc rq ca bl lm ot; do
	printf '%-18s %7d %6d %9d %8d %12d %9d %8d %11d %10d %11d %10d %9d %9d %9d %8s %7s\n' "$name" "$ex" "$cut" "$pub" "$dr" "$cf" "$rec" "$dis" "$une" "$mq" "$de" "$rc" "$rq" "$ca" "$bl" "$lm" "$ot"
done <"$out/accounts"
echo "drops by reason:"
while read -r name rest; do echo "  $name: ${rest:-none}"; done <"$out/drops"
echo "published by status:"
awk '{a[$1] = a[$1] " " $2} END {for (r in a) print "  " r ":" a[r]}' "$out/statuses" | sort

echo
echo "goals (issue 8), on the run-4 row:"
if read -r _ n _ cpu hwm _ _ _ _ a99 _ g99 _ m99 _ < <(grep '^run-4 ' "$out/rows"); then
	read -r _ _ cut pub dr _ rec dis une _ < <(grep '^run-4 ' "$out/accounts")
	verdict() { if [ "$1" = 1 ]; then echo met; else echo MISSED; fi; }
	printf '  CPU per stream ≤ 10 %% of one core:           %6.2f %%   %s\n' "$cpu" "$(verdict "$(awk -v c="$cpu" 'BEGIN {print (c <= 10)}')")"
	printf '  peak RSS ≤ 200 MB (10^6 bytes) in total:      %6.1f MB  %s\n' "$(awk -v r="$hwm" 'BEGIN {print r * 1024 / 1e6}')" "$(verdict "$(awk -v r="$hwm" 'BEGIN {print (r * 1024 <= 200e6)}')")"
	printf '  age p99 ≤ model p99 (*simulated*) + 100 ms:   %s ≤ %s + 100 ms  %s\n' "$a99" "$m99" "$(verdict "$(awk -v a="$a99" -v t="$m99" 'BEGIN {print (a <= t + 100)}')")"
	printf '    (against the GAR loop'"'"'s own time, which adds the waits for a request slot: %s ≤ %s + 100 ms  %s)\n' "$a99" "$g99" "$(verdict "$(awk -v a="$a99" -v t="$g99" 'BEGIN {print (a <= t + 100)}')")"
	printf '  no loss without a counted reason:             cut %d = published %d + dropped %d; received %d (distinct %d), unexplained %d  %s\n' \
		"$cut" "$pub" "$dr" "$rec" "$dis" "$une" "$(verdict "$([ "$cut" -eq $((pub + dr)) ] && [ "$dis" -eq "$pub" ] && [ "$une" -eq 0 ] && echo 1)")"
else
	echo "  (run-4 not in BENCH_ROWS)"
fi
if read -r _ _ _ cpu hwm _ < <(grep '^run-4 ' "$out/rows") && read -r _ _ _ acpu ahwm _ < <(grep '^run-4-all ' "$out/rows"); then
	verdict() { if [ "$1" = 1 ]; then echo met; else echo MISSED; fi; }
	echo "goals (issue 17), run-4 (frame_pick exact) against run-4-all (every frame decoded) of the same run:"
	printf '  CPU per stream ≤ 3 %% of one core:            %6.2f %% (run-4-all %.2f %%, ratio %.2f)  %s\n' "$cpu" "$acpu" \
		"$(awk -v a="$cpu" -v b="$acpu" 'BEGIN {print a / b}')" "$(verdict "$(awk -v c="$cpu" 'BEGIN {print (c <= 3)}')")"
	printf '  peak RSS does not grow:                       %6.1f MiB (run-4-all %.1f MiB)  %s\n' "$(awk -v r="$hwm" 'BEGIN {print r / 1024}')" \
		"$(awk -v r="$ahwm" 'BEGIN {print r / 1024}')" "$(verdict "$(awk -v a="$hwm" -v b="$ahwm" 'BEGIN {print (a <= b * 1.02)}')")"
fi
if read -r _ _ _ gcpu _ < <(grep '^run-4-gop1s ' "$out/rows") && read -r _ _ _ gacpu _ < <(grep '^run-4-gop1s-all ' "$out/rows"); then
	printf '  the same on a 1 s GOP camera (run-4-gop1s against run-4-gop1s-all): %.2f %% (%.2f %%, ratio %.2f)\n' "$gcpu" "$gacpu" \
		"$(awk -v a="$gcpu" -v b="$gacpu" 'BEGIN {print a / b}')"
fi

if [ -s "$out/overload" ]; then
	echo
	echo "overload (issue 13): model requests and how many were wasted (any result but ok: cut or failed), the"
	echo " oldest result published (ms, age_at_publish), /readyz samples (every 5 s) and how many were not 200,"
	echo " windows published as mllm_unavailable, open breakers at the end, distinct degraded-stream warnings,"
	echo " and each stream's ok detections (share of all ok). The run-4-overload row runs omnisim at"
	echo " --time-scale $OVERLOAD_TIME_SCALE: its *simulated* latency model, about 5 s a window at max_in_flight = 1."
	printf '%-18s %9s %7s %8s %8s %10s %11s %12s %9s  %s\n' row requests wasted wasted% age_max readyz/!200 unavailable breaker_open warnings "ok by stream"
	while read -r name rq wa am rs nr un op wn sh; do
		printf '%-18s %9d %7d %7.1f%% %8s %10s %11d %12d %9d  %s\n' "$name" "$rq" "$wa" "$(awk -v w="$wa" -v r="$rq" 'BEGIN {print r ? 100 * w / r : 0}')" \
			"$am" "$rs/$nr" "$un" "$op" "$wn" "$sh"
	done <"$out/overload"
	if read -r _ rq wa am rs nr un op _ sh < <(grep '^run-4-overload ' "$out/overload"); then
		verdict() { if [ "$1" = 1 ]; then echo met; else echo MISSED; fi; }
		echo "goals (issue 13), on the run-4-overload row:"
		printf '  ≤ 5 %% of model requests wasted:          %d of %d  %s\n' "$wa" "$rq" "$(verdict "$(awk -v w="$wa" -v r="$rq" 'BEGIN {print (r > 0 && w <= 0.05 * r)}')")"
		printf '  no mllm_unavailable, breaker closed:     %d, %d open  %s\n' "$un" "$op" "$(verdict "$([ "$un" -eq 0 ] && [ "$op" -eq 0 ] && echo 1)")"
		printf '  every published age ≤ stale_after 6 s:   max %s ms  %s\n' "$am" "$(verdict "$(awk -v a="$am" 'BEGIN {print (a != "-" && a <= 6000)}')")"
		printf '  /readyz stays ready:                     %s samples, %s not 200  %s\n' "$rs" "$nr" "$(verdict "$([ "$nr" -eq 0 ] && echo 1)")"
		# Counts are whole windows: one window off an equal share also passes
		# (17 results cannot split 25 % each).
		printf '  each stream 25 %% ± 15 %% of the ok (or ±1): %s  %s\n' "$sh" \
			"$(verdict "$(tr ',' '\n' <<<"$sh" | awk -F'[=(]' '{n++; v[n] = $2; t += $2} END {
				ok = (n == 4); e = t / 4; d = (0.15 * e > 1 ? 0.15 * e : 1)
				for (i = 1; i <= n; i++) if (v[i] < e - d || v[i] > e + d) ok = 0; print ok}')")"
	fi
fi
if read -r _ vn vconn vring vmin vmax < <(grep '^run-4-view-16 ' "$out/view" 2>/dev/null) &&
	read -r _ n _ cpu_on hwm_on _ < <(grep '^run-4-view-16 ' "$out/rows") &&
	read -r _ _ _ cpu_off hwm_off _ < <(grep '^run-4-view-off ' "$out/rows"); then
	verdict() { if [ "$1" = 1 ]; then echo met; else echo MISSED; fi; }
	cpu_growth=$(awk -v a="$cpu_on" -v b="$cpu_off" -v n="$n" 'BEGIN {printf "%.2f", (a - b) * n}')
	rss_growth=$(awk -v a="$hwm_on" -v b="$hwm_off" 'BEGIN {printf "%.1f", (a - b) * 1024 / 1e6}')
	ring_mb=$(awk -v r="$vring" 'BEGIN {printf "%.1f", r / 1e6}')
	echo
	echo "live view (issue 16): run-4-view-16 (the view on, $vn viewers following /events; $vconn connected at the"
	echo " end, each got $vmin to $vmax detection events) against run-4-view-off (http.view = false), one run each;"
	echo " the ring's own size is the media of the windows it keeps at the end, fetched back: $ring_mb MB"
	printf '  CPU grows ≤ 5 %% of one core:               %+6.2f %%   %s\n' "$cpu_growth" "$(verdict "$(awk -v c="$cpu_growth" 'BEGIN {print (c <= 5)}')")"
	printf '  peak RSS grows ≤ 20 MB (10^6 bytes):       %+6.1f MB  %s\n' "$rss_growth" "$(verdict "$(awk -v r="$rss_growth" 'BEGIN {print (r <= 20)}')")"
	printf '  peak RSS grows ≤ the ring (%s MB) + 8 MB:  %+6.1f MB  %s\n' "$ring_mb" "$rss_growth" "$(verdict "$(awk -v r="$rss_growth" -v g="$ring_mb" 'BEGIN {print (r <= g + 8)}')")"
	echo "  (the detection → browser latency goal is a Go benchmark: go test -run '^\$' -bench ViewDetectionToBrowser ./daemon/)"
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); outputs in $out"
