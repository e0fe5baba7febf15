#!/usr/bin/env bash
# bench.sh measures rkexec beside RootlessKit v2 (built from the Go module proxy), as an unprivileged
# user (the test user with subordinate ids when run as root: RKEXEC_TEST_USER in scripts/test-users.env,
# created by scripts/setup-test-env.sh):
#   - start-up latency, with hyperfine, beside unshare and nsenter;
#   - network: iperf3 bulk throughput sandbox->host (through slirp4netns, to 10.0.2.2) and host->sandbox
#     through each port driver, and sequential connections per second through a published port beside
#     the same client and server directly on loopback (scripts/connbench).
# Loopback only: host-side servers bind 127.0.0.1, clients on the host dial 127.0.0.1, and clients in
# the sandbox dial 10.0.2.2 (slirp4netns's alias of the host's loopback). Ports used: 18080 and
# 18100-18299, checked free first.
# It is a benchmark, not a test: it prints markdown tables, for docs/benchmarks.md.
#   RUNS=20 (hyperfine runs per command), WARMUP=3, ROOTLESSKIT_VERSION=v2.3.6, PARTS="startup net",
#   ROUNDS=3 (network rounds; the tables give the best), IPERF_SECONDS=3, CONNS=5000 and
#   CONN_SECONDS=3 (connbench stops at whichever comes first).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/test-users.env
source scripts/test-users.env

RUNS=${RUNS:-20}
WARMUP=${WARMUP:-3}
ROOTLESSKIT_VERSION=${ROOTLESSKIT_VERSION:-v2.3.6}
PARTS=${PARTS:-startup net}
ROUNDS=${ROUNDS:-3}
IPERF_SECONDS=${IPERF_SECONDS:-3}
CONNS=${CONNS:-5000}
CONN_SECONDS=${CONN_SECONDS:-3}
[[ $ROUNDS =~ ^[1-9]$ ]] || { echo "bench.sh: ROUNDS must be 1 to 9 (each round has its own ports)" >&2; exit 1; }
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then export PATH=/usr/local/go/bin:$PATH; fi
for tool in hyperfine iperf3 ss timeout; do
	command -v "$tool" >/dev/null || {
		echo "bench.sh: $tool is missing (scripts/setup-test-env.sh installs it: hyperfine, iperf3, iproute2, coreutils)" >&2
		exit 1
	}
done

work=$(mktemp -d /tmp/rkexec-bench.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
go build -o "$work/rkexec" ./cmd/rkexec
go build -o "$work/connbench" ./scripts/connbench
# RootlessKit, from the Go module proxy, for the side-by-side numbers.
GOBIN="$work" go install "github.com/rootless-containers/rootlesskit/v2/cmd/rootlesskit@$ROOTLESSKIT_VERSION"
chmod 755 "$work"/*
chmod 777 "$work" # the test user writes its results here

as_user() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u "$RKEXEC_TEST_USER" -- env -i PATH="$PATH" HOME=/tmp "$@"
	else
		"$@"
	fi
}

has_part() { [[ " $PARTS " == *" $1 "* ]]; }

# port_free PORT: nothing listens on PORT (any address, tcp or udp), so the benchmark's bind cannot clash.
port_free() {
	[[ -z $(ss -Hltun "sport = :$1") ]] || {
		echo "bench.sh: port $1 is in use (ss -ltunp 'sport = :$1'); the benchmark needs 18080 and 18100-18299 free" >&2
		exit 1
	}
}

# hyperfine's JSON has one "command" and one "median" (seconds) per result, in order.
table() {
	grep -E '"(command|median)"' "$1" | sed -E 's/.*: "?([^",]*)"?,?$/\1/' | paste - - |
		awk -F'\t' '{ printf "| `%s` | %.1f |\n", $1, $2 * 1000 }'
}

startup() {
	port_free 18080
	# The commands run as the test user, in one script so that the exec benchmark has a sandbox to join.
	cat >"$work/run.sh" <<SCRIPT
#!/usr/bin/env bash
set -euo pipefail
export XDG_RUNTIME_DIR=\$(mktemp -d /tmp/rkexec-bench-xdg.XXXXXX)
trap 'kill \${sb:-} 2>/dev/null; wait \${sb:-} 2>/dev/null || true; rm -rf "\$XDG_RUNTIME_DIR"' EXIT
cd /tmp
R=$work/rkexec
K=$work/rootlesskit
hf() { hyperfine -N --style none -w $WARMUP -r $RUNS --export-json "\$1" "\${@:2}" >/dev/null; }
hf $work/start.json \\
  -n 'unshare -Ur true' 'unshare -Ur true' \\
  -n 'unshare --map-root-user --map-auto true' 'unshare --map-root-user --map-auto true' \\
  -n 'rkexec -- true' "\$R -- true" \\
  -n 'rootlesskit true' "\$K --state-dir=\$XDG_RUNTIME_DIR/rk true" \\
  -n 'rkexec --pidns -- true' "\$R --pidns -- true" \\
  -n 'rootlesskit --pidns true' "\$K --state-dir=\$XDG_RUNTIME_DIR/rk --pidns true" \\
  -n 'rkexec --net=slirp4netns --copy-up=/etc -- true' "\$R --net=slirp4netns --copy-up=/etc -- true" \\
  -n 'rootlesskit --net=slirp4netns --copy-up=/etc true' "\$K --state-dir=\$XDG_RUNTIME_DIR/rk --net=slirp4netns --copy-up=/etc true"
# RootlessKit's builtin port driver fails some short runs on a start-up race: -i keeps the benchmark
# going, and the failures are counted apart (rkexec's are too; they should be 0).
hyperfine -N --style none -i -w $WARMUP -r $RUNS --export-json $work/ports.json \\
  -n 'rkexec --net=slirp4netns --port-driver=builtin -p 127.0.0.1:18080:80/tcp -- true' "\$R --net=slirp4netns --port-driver=builtin -p 127.0.0.1:18080:80/tcp -- true" \\
  -n 'rootlesskit --net=slirp4netns --port-driver=builtin -p 127.0.0.1:18080:80/tcp true' "\$K --state-dir=\$XDG_RUNTIME_DIR/rk --net=slirp4netns --port-driver=builtin -p 127.0.0.1:18080:80/tcp true" >/dev/null 2>&1
for c in "\$R --net=slirp4netns --port-driver=builtin -p 127.0.0.1:18080:80/tcp -- true" "\$K --state-dir=\$XDG_RUNTIME_DIR/rk --net=slirp4netns --port-driver=builtin -p 127.0.0.1:18080:80/tcp true"; do
  f=0; for i in \$(seq 50); do \$c >/dev/null 2>&1 || f=\$((f+1)); done
  echo "\$f" >>$work/ports-failures
done
# The exec benchmark's sandbox shares the host's network namespace (no --net), so nsenter gets no -n: it
# would try to join the host's network namespace from inside the user namespace and fail with EPERM.
\$R --name bench -- sleep 600 &
sb=\$!
while [ ! -f \$XDG_RUNTIME_DIR/rkexec/bench/child_pid ]; do sleep 0.05; done
pid=\$(cat \$XDG_RUNTIME_DIR/rkexec/bench/child_pid)
hf $work/exec.json \\
  -n 'rkexec exec NAME -- true' "\$R exec bench -- true" \\
  -n 'nsenter -U --preserve-credentials -m -t PID true' "nsenter -U --preserve-credentials -m -t \$pid true"
SCRIPT
	chmod 755 "$work/run.sh"
	as_user bash ${BENCH_DEBUG:+-x} "$work/run.sh"

	echo "Start-up latency, median of $RUNS runs ($(nproc) cores, $(uname -r), $(date -u +%Y-%m-%d)):"
	echo
	echo "| command | median (ms) |"
	echo "| --- | --- |"
	table "$work/start.json"
	table "$work/ports.json"
	table "$work/exec.json"
	echo
	mapfile -t fails <"$work/ports-failures"
	echo "Failed runs of 50 with -p 127.0.0.1:18080:80/tcp and the builtin port driver: rkexec ${fails[0]}, rootlesskit ${fails[1]}."
}

# The network benchmark, run as the test user: net.sh WORK ROUNDS IPERF_SECONDS CONNS CONN_SECONDS.
# Each result is one line "key<TAB>value" in WORK/net.tsv, one per round.
# Ports, for round r (1-9): iperf3 181r1-181r7, connbench 182r1-182r5, so no run meets the TIME_WAIT
# sockets of an earlier one.
net_script() {
	cat <<'SCRIPT'
#!/usr/bin/env bash
set -euo pipefail
W=$1 ROUNDS=$2 SECS=$3 CONNS=$4 CONN_SECS=$5
R=$W/rkexec K=$W/rootlesskit C=$W/connbench
LIMIT=$((SECS + CONN_SECS + 30)) # bound of every sandbox and server, in seconds
export XDG_RUNTIME_DIR=$(mktemp -d /tmp/rkexec-bench-xdg.XXXXXX)
cd /tmp

# Every background process (a server, or a sandbox with a server in it) is started by bg, under timeout,
# and stopped by cleanup on every exit: timeout passes the TERM on, rkexec and rootlesskit tear down.
pids=()
bg() {
	timeout -k 5 "$LIMIT" "$@" >>"$W/net.log" 2>&1 &
	last=$!
	pids+=("$last")
}
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$XDG_RUNTIME_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail() {
	echo "bench.sh (network): $*; the servers' output:" >&2
	tail -n 20 "$W/net.log" >&2
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
record() { printf '%s\t%s\n' "$1" "$2" >>"$W/net.tsv"; }

iperf_client() { # iperf_client KEY CMD...: run the client command, record its throughput.
	local key=$1 out=$W/iperf.json
	shift
	timeout -k 5 "$LIMIT" "$@" >"$out" 2>>"$W/net.log" || { cat "$out" >>"$W/net.log"; fail "$key: iperf3 client failed"; }
	finish
	local rate
	rate=$(gbps "$out")
	[[ -n $rate ]] || { cat "$out" >>"$W/net.log"; fail "$key: no sum_received in iperf3's JSON"; }
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
	local key=$1 port=$2 f=$W/ready.$2
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
	local key=$1 port=$2 f=$W/ready.$2 addr=127.0.0.1 out
	shift 2
	(($# == 0)) || addr=0.0.0.0
	bg "$@" "$C" server -addr "$addr:$port" -ready "$f"
	ready "$port" "$f"
	out=$("$C" client -addr "127.0.0.1:$port" -n "$CONNS" -d "${CONN_SECS}s" -quit 2>>"$W/net.log") ||
		fail "$key: connbench client failed: $out"
	finish
	echo "$key: $out" >>"$W/net.log"
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

# net_row TSV KEY LABEL [DIRECT_KEY]: one markdown row: the best of the rounds, every round, and with
# DIRECT_KEY the best as a share of DIRECT_KEY's best.
net_row() {
	awk -F'\t' -v key="$2" -v label="$3" -v direct="${4:-}" '
		$1 == key { all = all (all == "" ? "" : ", ") $2; if ($2 + 0 > best) best = $2 + 0 }
		$1 == direct && $2 + 0 > dbest { dbest = $2 + 0 }
		END {
			if (direct != "") printf "| %s | %s | %.0f%% | %s |\n", label, best, 100 * best / dbest, all
			else printf "| %s | %s | %s |\n", label, best, all
		}' "$1"
}

net() {
	local r i d
	for ((r = 1; r <= ROUNDS; r++)); do
		for i in 1 2 3 4 5 6 7; do port_free $((18100 + 10 * r + i)); done
		for i in 1 2 3 4 5; do port_free $((18200 + 10 * r + i)); done
	done
	net_script >"$work/net.sh"
	as_user bash ${BENCH_DEBUG:+-x} "$work/net.sh" "$work" "$ROUNDS" "$IPERF_SECONDS" "$CONNS" "$CONN_SECONDS"

	local t=$work/net.tsv sb='`--net=slirp4netns`'
	echo "iperf3 bulk throughput, one TCP stream, iperf3 -t $IPERF_SECONDS, receiver's Gbit/s, best of $ROUNDS rounds:"
	echo
	echo "| path | Gbit/s (best) | every round |"
	echo "| --- | --- | --- |"
	net_row "$t" direct 'host → host, directly on 127.0.0.1'
	net_row "$t" out-rkexec "sandbox → host 127.0.0.1 (as 10.0.2.2), rkexec $sb"
	net_row "$t" out-rootlesskit "sandbox → host 127.0.0.1 (as 10.0.2.2), rootlesskit $sb"
	for d in builtin slirp4netns; do
		net_row "$t" "in-rkexec-$d" "host → sandbox, rkexec \`--port-driver=$d\`"
		net_row "$t" "in-rootlesskit-$d" "host → sandbox, rootlesskit \`--port-driver=$d\`"
	done
	echo
	echo "Sequential connections (connect, 1-byte round trip, close), $CONNS or ${CONN_SECONDS} s, best of $ROUNDS rounds:"
	echo
	echo "| path | connections/s (best) | of direct | every round |"
	echo "| --- | --- | --- | --- |"
	net_row "$t" conn-direct 'host → host, directly on 127.0.0.1' conn-direct
	for d in builtin slirp4netns; do
		net_row "$t" "conn-rkexec-$d" "host → sandbox, rkexec \`--port-driver=$d\`" conn-direct
		net_row "$t" "conn-rootlesskit-$d" "host → sandbox, rootlesskit \`--port-driver=$d\`" conn-direct
	done
}

if has_part startup; then startup; fi
if has_part startup && has_part net; then echo; fi
if has_part net; then net; fi
