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
table "$work/ports.json"
table "$work/exec.json"
echo
mapfile -t fails <"$work/ports-failures"
echo "Failed runs of 50 with -p 127.0.0.1:18080:80/tcp and the builtin port driver: rkexec ${fails[0]}, rootlesskit ${fails[1]}."
