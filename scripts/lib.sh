# Helpers shared by the scripts in this directory; sourced, not run.
# Callers set -euo pipefail and cd to the top of the repository.

# The processes a script starts go into pids; `trap stop_pids EXIT` stops
# them and waits for them however the script ends.
pids=()
stop_pids() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
}

# fail MESSAGE [LOG]: says why the script stops, with LOG's last lines,
# and exits 1.
fail() {
	local script=${0##*/}
	echo "${script%.sh}: $1" >&2
	[ -n "${2:-}" ] && tail -n 20 "$2" >&2
	exit 1
}

# make_clip PATH SIZE RATE X264-ARGS…: makes PATH once, 60 s of ffmpeg's
# moving test pattern at SIZE and RATE with a 440 Hz tone (never silent, so
# every window goes to the model), as H.264 + AAC stereo 48 kHz; the
# container follows PATH's extension. Prints PATH.
make_clip() {
	local path=$1 size=$2 rate=$3
	shift 3
	if [ ! -s "$path" ]; then
		echo "making $path (once)…" >&2
		local tmp="${path%.*}.tmp.${path##*.}"
		ffmpeg -nostdin -hide_banner -loglevel error -y \
			-f lavfi -i "testsrc2=s=$size:r=$rate:d=60" -f lavfi -i "sine=f=440:sample_rate=48000:d=60" \
			-c:v libx264 -preset veryfast "$@" -c:a aac -ac 2 "$tmp"
		mv "$tmp" "$path"
	fi
	echo "$path"
}

# measure_median RUNS SCRATCH NAME CMD…: runs CMD RUNS times under GNU time
# (SCRATCH/w is emptied before each run, for commands that write there) and
# prints "NAME user+sys-seconds peak-RSS-KiB" of the median run.
measure_median() {
	local runs=$1 scratch=$2 name=$3
	shift 3
	local results=()
	for _ in $(seq "$runs"); do
		rm -rf "$scratch/w"
		mkdir -p "$scratch/w"
		/usr/bin/time -f "%U %S %M" -o "$scratch/time" "$@" >/dev/null 2>"$scratch/err" || {
			cat "$scratch/err" >&2
			return 1
		}
		results+=("$(awk '{printf "%.2f %d\n", $1+$2, $3}' "$scratch/time")")
	done
	printf '%s\n' "${results[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p" | {
		read -r cpu rss
		echo "$name $cpu $rss"
	}
}

# start_omnisim DIR ARGS…: starts bin/omnisim on a free port with ARGS,
# logging to DIR/omnisim.log; sets omnisim_pid and omnisim_url (…/v1).
start_omnisim() {
	local dir=$1
	shift
	rm -f "$dir/omnisim.port"
	bin/omnisim --listen 127.0.0.1:0 --port-file "$dir/omnisim.port" "$@" >"$dir/omnisim.log" 2>&1 &
	omnisim_pid=$!
	for _ in $(seq 100); do
		[ -s "$dir/omnisim.port" ] && break
		sleep 0.1
	done
	if [ ! -s "$dir/omnisim.port" ]; then
		kill "$omnisim_pid" 2>/dev/null || true
		tail -n 20 "$dir/omnisim.log" >&2
		echo "omnisim did not start" >&2
		return 1
	fi
	omnisim_url="http://127.0.0.1:$(cat "$dir/omnisim.port")/v1"
}

# start_mosquitto DIR: starts a private mosquitto on a free 127.0.0.1 port
# (DIR/mosquitto.conf, DIR/mosquitto.log); sets mosquitto_pid and
# mosquitto_port once it accepts a publish.
start_mosquitto() {
	local dir=$1 try pid
	mosquitto_port=""
	for _ in $(seq 20); do
		try=$((20000 + RANDOM % 40000))
		printf 'listener %d 127.0.0.1\nallow_anonymous true\n' "$try" >"$dir/mosquitto.conf"
		mosquitto -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
		pid=$!
		for _ in $(seq 30); do
			if mosquitto_pub -h 127.0.0.1 -p "$try" -t garssl/probe -n 2>/dev/null; then
				mosquitto_port=$try
				mosquitto_pid=$pid
				return 0
			fi
			kill -0 "$pid" 2>/dev/null || break # the port was taken: try another
			sleep 0.1
		done
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	tail -n 20 "$dir/mosquitto.log" >&2
	echo "mosquitto did not start" >&2
	return 1
}
