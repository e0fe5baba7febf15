# make test is the project's test command (also run by .ci/run and Dockerfile.test).
.PHONY: test build bench

test:
	./scripts/test.sh

# bin/rkexec, statically linked (scripts/build.sh says why and what it needs); bin/rootlesskit and
# bin/rootlesskit-docker-proxy: the same binary under RootlessKit's names.
build:
	./scripts/build.sh bin/rkexec
	ln -sf rkexec bin/rootlesskit
	ln -sf rkexec bin/rootlesskit-docker-proxy

bench:
	@if [ -f scripts/bench.sh ]; then bash scripts/bench.sh; \
	else echo "make bench: scripts/bench.sh does not exist yet" >&2; exit 1; fi
