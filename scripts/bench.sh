#!/usr/bin/env bash
# bench.sh (make bench) measures rkexec beside RootlessKit v2 (built from the Go module proxy at the
# version go.mod requires) and unshare/nsenter, as an unprivileged user (the test user with
# subordinate ids when run as root: RKEXEC_TEST_USER in scripts/test-users.env, created by
# scripts/setup-test-env.sh, which also installs what the benchmark runs), in one bounded run:
#   startup  start-up latency with hyperfine (host, --pidns, slirp4netns + copy-up, a published
#            port and its failed short runs), and rkexec exec beside nsenter;
#   memory   idle PSS and RSS of every process of one --pidns sandbox (and one with slirp4netns);
#   burst    the concurrency curve: sandboxes per second when N start at once, with CPU use;
#   net      iperf3 bulk throughput sandbox->host and host->sandbox through each port driver, and
#            sequential connections per second through a published port beside direct loopback.
# Then scripts/benchreport prints the tables and the targets of issues 10 and 12 (target, measured,
# holds), and, when every part ran, writes them into docs/benchmarks.md (between its "bench:begin"
# and "bench:end" markers; the prose around them is left alone) with the chart docs/benchmarks.svg.
#
# Loopback only: host-side servers bind 127.0.0.1, host clients dial 127.0.0.1, sandbox clients dial
# 10.0.2.2 (slirp4netns's alias of the host's loopback) by address; nothing resolves a name, so
# nothing asks slirp4netns's DNS (10.0.2.3). Ports used: 18080 and 18100-18299, checked free first.
# Every part runs under scripts/reap, which fails the run if any process outlives it, and the state
# and temporary directories must be empty at the end. (Only the build fetches RootlessKit, from the
# Go module proxy, before anything is measured.)
#
# Settings (environment):
#   PARTS="startup memory burst net"  the parts to run; the doc is written only when all four ran
#   WRITE_DOC=1                       0: print the tables only
#   RUNS=10 START_ROUNDS=3 WARMUP=3   hyperfine runs per command per round; rounds alternate the tools
#   BURST_N="1 10 100" BURST_ROUNDS=3 concurrency: sandboxes started at once, and rounds
#   ROUNDS=3 IPERF_SECONDS=3 CONNS=5000 CONN_SECONDS=3   network rounds (the tables give the best)
#   ROOTLESSKIT_VERSION               default: the version of rootlesskit/v2 in go.mod
#   RESULTS=DIR                       keep the raw results there (benchreport -in DIR reads them again)
#   PART_TIMEOUT=600                  seconds a part may take before it is ended (and the run fails)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/test-users.env
source scripts/test-users.env

PARTS=${PARTS:-startup memory burst net}
WRITE_DOC=${WRITE_DOC:-1}
RUNS=${RUNS:-10}
START_ROUNDS=${START_ROUNDS:-3}
WARMUP=${WARMUP:-3}
BURST_N=${BURST_N:-1 10 100}
BURST_ROUNDS=${BURST_ROUNDS:-3}
ROUNDS=${ROUNDS:-3}
IPERF_SECONDS=${IPERF_SECONDS:-3}
CONNS=${CONNS:-5000}
CONN_SECONDS=${CONN_SECONDS:-3}
PART_TIMEOUT=${PART_TIMEOUT:-600}

die() {
	echo "bench.sh: $*" >&2
	exit 1
}
[[ $ROUNDS =~ ^[1-9]$ ]] || die "ROUNDS must be 1 to 9 (each round has its own ports)"
for v in RUNS START_ROUNDS WARMUP BURST_ROUNDS IPERF_SECONDS CONNS CONN_SECONDS PART_TIMEOUT; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
for p in $PARTS; do
	[[ " startup memory burst net " == *" $p "* ]] || die "unknown part '$p' in PARTS (startup memory burst net)"
done
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then export PATH=/usr/local/go/bin:$PATH; fi
for tool in go hyperfine iperf3 ss timeout unshare nsenter slirp4netns newuidmap; do
	command -v "$tool" >/dev/null ||
		die "$tool is missing (scripts/setup-test-env.sh installs what the benchmark needs)"
done
if [[ $(id -u) -eq 0 ]]; then
	id -u "$RKEXEC_TEST_USER" >/dev/null 2>&1 ||
		die "user $RKEXEC_TEST_USER does not exist: run scripts/setup-test-env.sh first"
fi
ROOTLESSKIT_VERSION=${ROOTLESSKIT_VERSION:-$(go list -m -f '{{.Version}}' github.com/rootless-containers/rootlesskit/v2)}

# work/bin: the binaries, owned by the invoking user and not writable by the measured one (so rkexec
# runs its init from the file, not from a sealed copy); work/out: results, written by both;
# work/home: the measured user's XDG_RUNTIME_DIR (xdg) and TMPDIR (tmp), checked empty at the end.
work=$(mktemp -d /tmp/rkexec-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
B=$work/bin O=$work/out H=$work/home
mkdir -p "$B" "$O" "$H/xdg" "$H/tmp"
chmod 755 "$work" "$B"
chmod 777 "$O"
if [[ $(id -u) -eq 0 ]]; then chown -R "$RKEXEC_TEST_USER:" "$H"; fi
chmod 700 "$H/xdg"

echo "bench.sh: building rkexec, the bench tools and RootlessKit $ROOTLESSKIT_VERSION" >&2
./scripts/build.sh "$B/rkexec"
for t in connbench burst memtree reap benchreport; do go build -o "$B/$t" "./scripts/$t"; done
GOBIN="$B" go install "github.com/rootless-containers/rootlesskit/v2/cmd/rootlesskit@$ROOTLESSKIT_VERSION"
chmod 755 "$B"/*

# user_run CMD...: CMD as the measured user, with a clean environment.
user_run() {
	local env=(PATH="$PATH" HOME="$H" XDG_RUNTIME_DIR="$H/xdg" TMPDIR="$H/tmp" B="$B" O="$O")
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u "$RKEXEC_TEST_USER" -- env -i "${env[@]}" "$@"
	else
		env -i "${env[@]}" "$@"
	fi
}
# as_user CMD...: the same, under reap, for PART_TIMEOUT seconds at most.
as_user() { user_run "$B/reap" -timeout "${PART_TIMEOUT}s" -- "$@"; }

has_part() { [[ " $PARTS " == *" $1 "* ]]; }

# port_free PORT: nothing listens on PORT (any address, tcp or udp), so the benchmark's bind cannot clash.
port_free() {
	[[ -z $(ss -Hltun "sport = :$1") ]] ||
		die "port $1 is in use (ss -ltunp 'sport = :$1'); the benchmark needs 18080 and 18100-18299 free"
}

first_line() { "$@" 2>&1 | head -n 1 || true; }
meta() { printf '%s\t%s\n' "$1" "$2" >>"$O/meta.tsv"; }
meta_machine() {
	local commit
	commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	[[ -z $(git status --porcelain --untracked-files=no 2>/dev/null) ]] || commit+=" (with uncommitted changes)"
	meta commit "$commit"
	meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
	meta cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	meta cores "$(nproc)"
	meta memory "$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	meta kernel "$(uname -r)"
	meta os "$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-unknown}")$([[ -r /etc/debian_version ]] && echo " ($(cat /etc/debian_version))")"
	meta rootlesskit "$ROOTLESSKIT_VERSION"
	meta slirp4netns "$(first_line slirp4netns --version)"
	meta hyperfine "$(first_line hyperfine --version)"
	meta iperf3 "$(first_line iperf3 --version)"
	meta util-linux "$(first_line unshare --version)"
	meta go "$(go env GOVERSION)"
	meta invoker "$(id -un)"
	meta user "$(if [[ $(id -u) -eq 0 ]]; then echo "$RKEXEC_TEST_USER"; else id -un; fi)"
	meta parts "$PARTS"
	meta settings "RUNS=$RUNS START_ROUNDS=$START_ROUNDS WARMUP=$WARMUP BURST_N=\"$BURST_N\" BURST_ROUNDS=$BURST_ROUNDS ROUNDS=$ROUNDS IPERF_SECONDS=$IPERF_SECONDS CONNS=$CONNS CONN_SECONDS=$CONN_SECONDS"
}

# ---- startup: hyperfine, START_ROUNDS rounds of every command in turn; the report merges the rounds.
startup_script() {
	cat <<'SCRIPT'
#!/usr/bin/env bash
set -euo pipefail
ROUNDS=$1 RUNS=$2 WARMUP=$3
R=$B/rkexec K=$B/rootlesskit
cd "$HOME"
sb=
cleanup() {
	if [[ -n $sb ]]; then kill "$sb" 2>/dev/null || true; wait "$sb" 2>/dev/null || true; fi
}
trap cleanup EXIT
hf() { hyperfine -N --style none -w "$WARMUP" -r "$RUNS" --export-json "$@" >/dev/null; }
K1="$K --state-dir=$XDG_RUNTIME_DIR/rk"
P=127.0.0.1:18080:80/tcp
# The exec benchmark joins a --pidns sandbox: its child_pid is the sandbox's init.
"$R" --pidns --name bench -- sleep 600 &
sb=$!
for ((i = 0; i < 400; i++)); do
	[[ -s $XDG_RUNTIME_DIR/rkexec/bench/child_pid ]] && break
	kill -0 "$sb" 2>/dev/null || { echo "bench.sh: the exec benchmark's sandbox exited" >&2; exit 1; }
	sleep 0.05 # a benchmark waiting for another process's file
done
pid=$(cat "$XDG_RUNTIME_DIR/rkexec/bench/child_pid")
for ((r = 1; r <= ROUNDS; r++)); do
	hf "$O/start.$r.json" \
		-n 'unshare -Ur true' 'unshare -Ur true' \
		-n 'unshare --map-root-user --map-auto true' 'unshare --map-root-user --map-auto true' \
		-n 'rkexec --version' "$R --version" \
		-n 'rootlesskit --version' "$K --version" \
		-n 'rkexec -- true' "$R -- true" \
		-n 'rootlesskit true' "$K1 true" \
		-n 'unshare --map-root-user --map-auto --pid --fork --mount-proc true' 'unshare --map-root-user --map-auto --pid --fork --mount-proc true' \
		-n 'rkexec --pidns -- true' "$R --pidns -- true" \
		-n 'rootlesskit --pidns true' "$K1 --pidns true" \
		-n 'rkexec --net=slirp4netns --copy-up=/etc -- true' "$R --net=slirp4netns --copy-up=/etc -- true" \
		-n 'rootlesskit --net=slirp4netns --copy-up=/etc true' "$K1 --net=slirp4netns --copy-up=/etc true"
	hf "$O/exec.$r.json" \
		-n 'rkexec exec NAME -- true' "$R exec bench -- true" \
		-n 'nsenter -U --preserve-credentials -m -p -t PID true' "nsenter -U --preserve-credentials -m -p -t $pid true"
	# RootlessKit's builtin port driver fails some short runs on a start-up race: -i keeps the
	# benchmark going, and the failures are counted below.
	hf "$O/ports.$r.json" -i \
		-n "rkexec --net=slirp4netns --port-driver=builtin -p $P -- true" "$R --net=slirp4netns --port-driver=builtin -p $P -- true" \
		-n "rootlesskit --net=slirp4netns --port-driver=builtin -p $P true" "$K1 --net=slirp4netns --port-driver=builtin -p $P true" 2>/dev/null
done
# Failed short runs with a published port, 50 of each, in turn.
fr=0 fk=0
for ((i = 0; i < 50; i++)); do
	"$R" --net=slirp4netns --port-driver=builtin -p "$P" -- true >/dev/null 2>&1 || fr=$((fr + 1))
	$K1 --net=slirp4netns --port-driver=builtin -p "$P" true >/dev/null 2>&1 || fk=$((fk + 1))
done
printf 'rkexec\t%d\t50\nrootlesskit\t%d\t50\n' "$fr" "$fk" >"$O/ports-failures.tsv"
SCRIPT
}

startup() {
	port_free 18080
	echo "bench.sh: start-up ($START_ROUNDS rounds of $RUNS runs per command)" >&2
	startup_script >"$O/startup.sh"
	as_user bash ${BENCH_DEBUG:+-x} "$O/startup.sh" "$START_ROUNDS" "$RUNS" "$WARMUP"
}

# ---- memory: one sandbox at a time, its process tree measured by memtree (as root when run as root:
# rkexec's child is not dumpable, so only root reads its smaps_rollup), then its command killed.
memory() {
	echo "bench.sh: idle memory" >&2
	local scenario tool job pid i rows target
	for scenario in pidns slirp4netns; do
		for tool in rkexec rootlesskit; do
			local cmd=("$B/$tool")
			[[ $tool == rkexec ]] || cmd+=("--state-dir=$H/xdg/rk.mem")
			cmd+=(--pidns)
			[[ $scenario == pidns ]] || cmd+=(--net=slirp4netns)
			[[ $tool == rootlesskit ]] || cmd+=(--)
			rm -f "$O/mem.pid"
			user_run "$B/reap" -timeout 120s -pidfile "$O/mem.pid" -- "${cmd[@]}" sleep 600 >>"$O/mem.log" 2>&1 &
			job=$!
			for ((i = 0; i < 200; i++)); do
				[[ -s $O/mem.pid ]] && break
				sleep 0.05 # reap writes the file right after it started the tool
			done
			pid=$(cat "$O/mem.pid" 2>/dev/null) || { kill "$job"; die "memory: $tool did not start"; }
			if ! rows=$("$B/memtree" -target sleep -wait 20s -settle 1s "$pid"); then
				kill "$job" 2>/dev/null || true
				wait "$job" || true
				die "memory: measuring $tool ($scenario) failed"
			fi
			# End the sandbox the ordinary way: its command exits.
			target=$(awk -F'\t' '$3 == "sleep" && $4 == "target" { print $1; exit }' <<<"$rows")
			kill "$target"
			wait "$job" || true # sleep killed by SIGTERM: the tool exits non-zero
			! grep -q '^reap: ' "$O/mem.log" || die "memory: $(grep '^reap: ' "$O/mem.log")"
			awk -F'\t' -v t="$tool" -v s="$scenario" '{ print t "\t" s "\t" $0 }' <<<"$rows" >>"$O/mem.tsv"
		done
	done
}

# ---- burst: N sandboxes at once, for each N, the tools in turn, BURST_ROUNDS times.
burst_script() {
	cat <<'SCRIPT'
#!/usr/bin/env bash
set -euo pipefail
ROUNDS=$1
shift
cd "$HOME"
for ((r = 1; r <= ROUNDS; r++)); do
	for n in "$@"; do
		# RootlessKit makes (and removes) a state directory in TMPDIR per run.
		line=$("$B/burst" -n "$n" -- "$B/rkexec" -- true)
		printf 'rkexec\t%s\t%s\t%s\n' "$n" "$r" "$line" >>"$O/burst.tsv"
		line=$("$B/burst" -n "$n" -- "$B/rootlesskit" true)
		printf 'rootlesskit\t%s\t%s\t%s\n' "$n" "$r" "$line" >>"$O/burst.tsv"
	done
done
SCRIPT
}

burst() {
	echo "bench.sh: concurrency (N = $BURST_N, $BURST_ROUNDS rounds)" >&2
	burst_script >"$O/burst.sh"
	# shellcheck disable=SC2086 # BURST_N is a list
	as_user bash ${BENCH_DEBUG:+-x} "$O/burst.sh" "$BURST_ROUNDS" $BURST_N
}

# ---- net: run as the measured user: net.sh ROUNDS IPERF_SECONDS CONNS CONN_SECONDS.
# Each result is one line "key<TAB>value" in O/net.tsv, one per round.
# Ports, for round r (1-9): iperf3 181r1-181r7, connbench 182r1-182r5, so no run meets the TIME_WAIT
# sockets of an earlier one.
net_script() {
	cat <<'SCRIPT'
#!/usr/bin/env bash
set -euo pipefail
ROUNDS=$1 SECS=$2 CONNS=$3 CONN_SECS=$4
R=$B/rkexec K=$B/rootlesskit C=$B/connbench
LIMIT=$((SECS + CONN_SECS + 30)) # bound of every sandbox and server, in seconds
cd "$HOME"

# Every background process (a server, or a sandbox with a server in it) is started by bg, under timeout,
# and stopped by cleanup on every exit: timeout passes the TERM on, rkexec and rootlesskit tear down.
pids=()
bg() {
	timeout -k 5 "$LIMIT" "$@" >>"$O/net.log" 2>&1 &
	last=$!
	pids+=("$last")
}
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail() {
	echo "bench.sh (network): $*; the servers' output:" >&2
	tail -n 20 "$O/net.log" >&2
	exit 1
}
# finish: the last background process ends by itself (its server has served one client), within LIMIT.
finish() { wait "$last" || fail "the server (or its sandbox) exited with $?"; }

# ready PORT [FILE]: wait (20 s at most) until something listens on the host's 127.0.0.1:PORT and, if
# given, FILE exists (created inside the sandbox once its server listens).
ready() {
	local port=$1 file=${2:-} i
	for ((i = 0; i < 400; i++)); do
		if [[ -n $(ss -Hltn "src 127.0.0.1 and sport = :$port") ]] && [[ -z $file || -e $file ]]; then
			return 0
		fi
		kill -0 "$last" 2>/dev/null || fail "the server for port $port exited before it was ready"
		sleep 0.05
	done
	fail "port $port not ready after 20 s"
}

# gbps JSON: the receiver's throughput, in Gbit/s, from iperf3 -J.
gbps() { awk '/"sum_received"/ { f = 1 } f && /"bits_per_second"/ { printf "%.2f\n", $2 / 1e9; exit }' "$1"; }
record() { printf '%s\t%s\n' "$1" "$2" >>"$O/net.tsv"; }

iperf_client() { # iperf_client KEY CMD...: run the client command, record its throughput.
	local key=$1 out=$O/iperf.json
	shift
	timeout -k 5 "$LIMIT" "$@" >"$out" 2>>"$O/net.log" || { cat "$out" >>"$O/net.log"; fail "$key: iperf3 client failed"; }
	finish
	local rate
	rate=$(gbps "$out")
	[[ -n $rate ]] || { cat "$out" >>"$O/net.log"; fail "$key: no sum_received in iperf3's JSON"; }
	record "$key" "$rate"
}

# iperf3 with the server on the host's 127.0.0.1: the client on the host, or in a sandbox dialing 10.0.2.2.
iperf_to_host() { # KEY PORT [SANDBOX...]
	local key=$1 port=$2 host=127.0.0.1
	shift 2
	(($# == 0)) || host=10.0.2.2
	bg iperf3 -s -1 -B 127.0.0.1 -p "$port"
	ready "$port"
	iperf_client "$key" "$@" iperf3 -c "$host" -p "$port" -t "$SECS" -J
}

# iperf3 with the server in the sandbox, published on the host's 127.0.0.1:PORT, the client on the host.
iperf_to_sandbox() { # KEY PORT SANDBOX...
	local key=$1 port=$2 f=$O/ready.$2
	shift 2
	# Inside, iperf3 listens on the sandbox's own addresses (its namespace holds nothing else).
	bg "$@" sh -c 'iperf3 -s -1 -p "$1" >/dev/null & s=$!
		until ss -Hltn "sport = :$1" | grep -q .; do kill -0 $s || exit 1; sleep 0.02; done
		: >"$2"; wait $s' sh "$port" "$f"
	ready "$port" "$f"
	iperf_client "$key" iperf3 -c 127.0.0.1 -p "$port" -t "$SECS" -J
}

# connbench: the server on the host's 127.0.0.1, or in the sandbox published there; the client on the host.
conns() { # KEY PORT [SANDBOX...]
	local key=$1 port=$2 f=$O/ready.$2 addr=127.0.0.1 out
	shift 2
	(($# == 0)) || addr=0.0.0.0
	bg "$@" "$C" server -addr "$addr:$port" -ready "$f"
	ready "$port" "$f"
	out=$("$C" client -addr "127.0.0.1:$port" -n "$CONNS" -d "${CONN_SECS}s" -quit 2>>"$O/net.log") ||
		fail "$key: connbench client failed: $out"
	finish
	echo "$key: $out" >>"$O/net.log"
	[[ $out == *" errors=0 "* ]] || fail "$key: connections failed: $out"
	record "$key" "${out##*rate=}"
}

rk() { echo "$K --state-dir=$XDG_RUNTIME_DIR/rk.$1 --net=slirp4netns"; } # RootlessKit, own state dir per port
for ((r = 1; r <= ROUNDS; r++)); do
	p=$((18100 + 10 * r))
	iperf_to_host direct $((p + 1))
	iperf_to_host out-rkexec $((p + 2)) "$R" --net=slirp4netns --
	# shellcheck disable=SC2046 # rk's words are meant to split
	iperf_to_host out-rootlesskit $((p + 3)) $(rk $((p + 3)))
	for d in builtin slirp4netns; do
		q=$((p + 4))
		[[ $d == builtin ]] || q=$((p + 6))
		iperf_to_sandbox "in-rkexec-$d" "$q" "$R" --net=slirp4netns --port-driver=$d -p "127.0.0.1:$q:$q/tcp" --
		((q += 1))
		# shellcheck disable=SC2046
		iperf_to_sandbox "in-rootlesskit-$d" "$q" $(rk $q) --port-driver=$d -p "127.0.0.1:$q:$q/tcp"
	done
	p=$((18200 + 10 * r))
	conns conn-direct $((p + 1))
	for d in builtin slirp4netns; do
		q=$((p + 2))
		[[ $d == builtin ]] || q=$((p + 4))
		conns "conn-rkexec-$d" "$q" "$R" --net=slirp4netns --port-driver=$d -p "127.0.0.1:$q:$q/tcp" --
		((q += 1))
		# shellcheck disable=SC2046
		conns "conn-rootlesskit-$d" "$q" $(rk $q) --port-driver=$d -p "127.0.0.1:$q:$q/tcp"
	done
done
SCRIPT
}

net() {
	local r i
	for ((r = 1; r <= ROUNDS; r++)); do
		for i in 1 2 3 4 5 6 7; do port_free $((18100 + 10 * r + i)); done
		for i in 1 2 3 4 5; do port_free $((18200 + 10 * r + i)); done
	done
	echo "bench.sh: network ($ROUNDS rounds)" >&2
	net_script >"$O/net.sh"
	as_user bash ${BENCH_DEBUG:+-x} "$O/net.sh" "$ROUNDS" "$IPERF_SECONDS" "$CONNS" "$CONN_SECONDS"
}

# leftovers: rkexec's state directories and every temporary directory (RootlessKit's per-run state
# directories among them) are gone. RootlessKit keeps an explicit --state-dir: those (rk*) are ours.
leftovers() {
	local left
	left=$(find "$H/xdg" "$H/tmp" -mindepth 1 -maxdepth 2 ! -path "$H/xdg/rkexec" ! -path "$H/xdg/rk*" -print)
	left+=$(find "$H/xdg/rkexec" -mindepth 1 -maxdepth 1 -print 2>/dev/null || true)
	[[ -z $left ]] || die "left behind after the benchmark: $left"
}

meta_machine
meta loadavg-before "$(cut -d' ' -f1-3 /proc/loadavg)"
if has_part startup; then startup; fi
if has_part memory; then memory; fi
if has_part burst; then burst; fi
if has_part net; then net; fi
leftovers
meta loadavg-after "$(cut -d' ' -f1-3 /proc/loadavg)"

report=("$B/benchreport" -in "$O")
all=1
for p in startup memory burst net; do has_part "$p" || all=0; done
if [[ $WRITE_DOC == 1 && $all == 1 ]]; then
	report+=(-doc docs/benchmarks.md -chart docs/benchmarks.svg)
elif [[ $WRITE_DOC == 1 ]]; then
	echo "bench.sh: PARTS=\"$PARTS\" is not every part: docs/benchmarks.md is left as it is" >&2
fi
if [[ -n ${RESULTS:-} ]]; then
	mkdir -p "$RESULTS"
	cp -r "$O"/. "$RESULTS"/
fi
"${report[@]}"
