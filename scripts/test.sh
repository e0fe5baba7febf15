#!/usr/bin/env bash
# test.sh is THE test command (make test, .ci/run and Dockerfile.test all run it).
# As root it first prepares the machine (scripts/setup-test-env.sh) and the integration tests switch to
# the test users themselves; as a normal user it runs the same checks on the machine as it is.
# Steps: gofmt, go vet, unit tests with -race, integration tests.
# With CI=true a missing prerequisite fails the run; otherwise it is a warning and tests that need it skip.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }
die() {
	printf 'test.sh: FAIL: %s\n' "$*" >&2
	exit 1
}
in_ci() { [[ ${CI:-} == true ]]; }

# missing WHAT: a prerequisite is absent; fatal in CI, a warning elsewhere.
missing() {
	if in_ci; then
		die "missing prerequisite (CI=true): $*"
	fi
	printf 'test.sh: warning: missing prerequisite, tests that need it will skip: %s\n' "$*" >&2
}

if [[ $(id -u) -eq 0 ]]; then
	step "set-up (running as root): scripts/setup-test-env.sh"
	scripts/setup-test-env.sh
else
	step "not root: skipping the machine set-up (run me as root to do it)"
fi

# Go may be installed but not on root's PATH (the official tarball lives in /usr/local/go).
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
	export PATH=/usr/local/go/bin:$PATH
fi
command -v go >/dev/null || die "missing prerequisite: go (install Go 1.26 into /usr/local/go)"
command -v gofmt >/dev/null || die "missing prerequisite: gofmt (part of the Go installation)"
command -v gcc >/dev/null || die "missing prerequisite: gcc (cgo and -race need it: apt-get install gcc libc6-dev)"

step "prerequisites"
# The test users, named once (scripts/test-users.env); exported so the Go tests use these very names.
# shellcheck source=scripts/test-users.env
source scripts/test-users.env
export RKEXEC_TEST_USER RKEXEC_TEST_USER_NOSUBID
go version
for cmd in newuidmap newgidmap getsubids slirp4netns runuser; do
	command -v "$cmd" >/dev/null || missing "$cmd (apt-get install uidmap slirp4netns util-linux)"
done
# The end-to-end tests: rootless dockerd (test/dockerd_test.go) and the CI job (test/ci_job_test.go).
# dockerd, containerd, docker-proxy, iptables and ip live in /usr/sbin, which a user's PATH may lack.
for cmd in dockerd containerd runc docker-proxy iptables ip busybox curl tar; do
	command -v "$cmd" >/dev/null || [[ -x /usr/sbin/$cmd ]] ||
		missing "$cmd (apt-get install docker.io busybox-static curl iproute2 tar)"
done
for f in /usr/share/docker.io/contrib/dockerd-rootless.sh /usr/bin/docker /bin/busybox; do
	[[ -x $f ]] || missing "$f (apt-get install docker.io busybox-static)"
done
[[ -c /dev/net/tun && -r /dev/net/tun && -w /dev/net/tun ]] ||
	missing "/dev/net/tun readable and writable by $(id -un) (scripts/setup-test-env.sh as root)"

# has_range FILE USER: whether FILE has a line for USER, by name or by uid.
has_range() {
	local uid
	uid=$(id -u "$2") && grep -Eq "^($2|$uid):" "$1" 2>/dev/null
}
if [[ $(id -u) -eq 0 ]]; then
	# As root the integration tests and pkg/nsenter's run as these users: check all they rely on.
	for u in "$RKEXEC_TEST_USER" "$RKEXEC_TEST_USER_NOSUBID"; do
		id -u "$u" >/dev/null 2>&1 || missing "user $u (scripts/setup-test-env.sh as root)"
	done
	if id -u "$RKEXEC_TEST_USER" >/dev/null 2>&1; then
		for f in /etc/subuid /etc/subgid; do
			has_range "$f" "$RKEXEC_TEST_USER" ||
				missing "a range for $RKEXEC_TEST_USER in $f (scripts/setup-test-env.sh as root)"
		done
	fi
	if id -u "$RKEXEC_TEST_USER_NOSUBID" >/dev/null 2>&1; then
		for f in /etc/subuid /etc/subgid; do
			! has_range "$f" "$RKEXEC_TEST_USER_NOSUBID" ||
				missing "no range for $RKEXEC_TEST_USER_NOSUBID in $f: it must have none (scripts/setup-test-env.sh as root)"
		done
	fi
elif ! has_range /etc/subuid "$(id -un)"; then
	missing "a range for $(id -un) in /etc/subuid (the full-mapping tests need one)"
fi
echo "prerequisites: test users $RKEXEC_TEST_USER (with subordinate ids) and $RKEXEC_TEST_USER_NOSUBID (without)"

step "gofmt -l"
unformatted=$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 |
	xargs -0 -r gofmt -l)
if [[ -n $unformatted ]]; then
	printf '%s\n' "$unformatted" >&2
	die "gofmt: the files above are not formatted (run gofmt -w on them)"
fi

step "go vet ./..."
go vet ./...

step "unit tests: go test -race -count=1 ./cmd/... ./pkg/... ./internal/... ./scripts/..."
go test -race -count=1 ./cmd/... ./pkg/... ./internal/... ./scripts/...

step "integration tests: go test -count=1 -v -timeout 20m ./test/..."
go test -count=1 -v -timeout 20m ./test/...

step "all tests passed"
