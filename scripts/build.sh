#!/bin/sh
# scripts/build.sh OUT [GO BUILD FLAGS...] builds rkexec as the project ships and tests it (make
# build, the integration tests, make bench): statically linked. Every run starts the binary three
# times (the parent, nsexec's stage 0, the child), and a static one has no dynamic loader, no
# libc.so to map and relocate: about 0.3 ms less each, 1 ms per run (docs/benchmarks.md).
#
# Static needs libc's static library (Debian and Ubuntu: libc6-dev, which gcc pulls in; Fedora:
# glibc-static), and the pure-Go user lookup and DNS resolver (tags osusergo, netgo), as glibc's
# NSS modules cannot be loaded into a static binary: rkexec looks the caller up in /etc/passwd, then
# with getent(1) for other sources (pkg/idmap). `go build ./cmd/rkexec` still works, dynamically.
# $GO is the go command (default: go).
set -eu
out=$1
shift
cd "$(dirname "$0")/.."
exec "${GO:-go}" build -tags osusergo,netgo -ldflags=-extldflags=-static "$@" -o "$out" ./cmd/rkexec
