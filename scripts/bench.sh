#!/usr/bin/env bash
# bench.sh measures start-up latency of rkexec beside RootlessKit, unshare and nsenter, with hyperfine,
# as an unprivileged user (the test user with subordinate ids when run as root: RKEXEC_TEST_USER in
# scripts/test-users.env, created by scripts/setup-test-env.sh).
# It is a benchmark, not a test: it prints a markdown table of medians, for docs/benchmarks.md.
#   RUNS=20 (runs per command), WARMUP=3, ROOTLESSKIT_VERSION=v2.3.6
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/test-users.env
source scripts/test-users.env

RUNS=${RUNS:-20}
WARMUP=${WARMUP:-3}
ROOTLESSKIT_VERSION=${ROOTLESSKIT_VERSION:-v2.3.6}
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then export PATH=/usr/local/go/bin:$PATH; fi
command -v hyperfine >/dev/null || { echo "bench.sh: hyperfine is missing (apt-get install hyperfine)" >&2; exit 1; }

work=$(mktemp -d /tmp/rkexec-bench.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
go build -o "$work/rkexec" ./cmd/rkexec
# RootlessKit, from the Go module proxy, for the side-by-side numbers.
GOBIN="$work" go install "github.com/rootless-containers/rootlesskit/v2/cmd/rootlesskit@$ROOTLESSKIT_VERSION"
chmod 755 "$work"/*

as_user() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u "$RKEXEC_TEST_USER" -- env -i PATH="$PATH" HOME=/tmp "$@"
	else
		"$@"
	fi
}

# The commands run as the test user, in one script so that the exec benchmark has a sandbox to join.
cat >"$work/run.sh" <<SCRIPT
#!/usr/bin/env bash
set -euo pipefail
export XDG_RUNTIME_DIR=\$(mktemp -d /tmp/rkexec-bench-xdg.XXXXXX)
trap 'kill \$sb 2>/dev/null; wait \$sb 2>/dev/null || true; rm -rf "\$XDG_RUNTIME_DIR"' EXIT
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
  -n 'rootlesskit --pidns true' "\$K --state-dir=\$XDG_RUNTIME_DIR/rk --pidns true"
# The sandbox shares the host's network namespace (no --net yet), so nsenter gets no -n: it would try to
# join the host's network namespace from inside the user namespace and fail with EPERM.
\$R --name bench -- sleep 600 &
sb=\$!
while [ ! -f \$XDG_RUNTIME_DIR/rkexec/bench/child_pid ]; do sleep 0.05; done
pid=\$(cat \$XDG_RUNTIME_DIR/rkexec/bench/child_pid)
hf $work/exec.json \\
  -n 'rkexec exec NAME -- true' "\$R exec bench -- true" \\
  -n 'nsenter -U --preserve-credentials -m -t PID true' "nsenter -U --preserve-credentials -m -t \$pid true"
SCRIPT
chmod 755 "$work/run.sh"
chmod 777 "$work"
as_user bash ${BENCH_DEBUG:+-x} "$work/run.sh"

# hyperfine's JSON has one "command" and one "median" (seconds) per result, in order.
table() {
	grep -E '"(command|median)"' "$1" | sed -E 's/.*: "?([^",]*)"?,?$/\1/' | paste - - |
		awk -F'\t' '{ printf "| `%s` | %.1f |\n", $1, $2 * 1000 }'
}
echo "Start-up latency, median of $RUNS runs ($(nproc) cores, $(uname -r), $(date -u +%Y-%m-%d)):"
echo
echo "| command | median (ms) |"
echo "| --- | --- |"
table "$work/start.json"
table "$work/exec.json"
