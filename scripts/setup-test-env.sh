#!/usr/bin/env bash
# setup-test-env.sh prepares a fresh Debian/Ubuntu machine for rkexec's tests. Run it as root; it is
# idempotent, and prints one line per thing it checked or changed. It needs only the distribution's apt
# mirror. It sets up:
#   - the packages the tests run (uidmap, slirp4netns, ...) and the C toolchain cgo and -race need;
#   - rkexec-test, a user WITH /etc/subuid and /etc/subgid ranges, and rkexec-test2, a user WITHOUT;
#   - /dev/net/tun usable by those users;
#   - the sysctls that let an unprivileged user create user namespaces.
set -euo pipefail

# The test users' names: one home, shared with scripts/test.sh and the Go tests.
# shellcheck source=scripts/test-users.env
source "$(dirname "${BASH_SOURCE[0]}")/test-users.env"
readonly TEST_USER=$RKEXEC_TEST_USER          # has subordinate ids: the full-mapping tests run as this user
readonly TEST_USER2=$RKEXEC_TEST_USER_NOSUBID # has none: the single-mapping (TestNoSubid*) tests run as this user
readonly RANGE_START=100000      # preferred first subordinate id of TEST_USER
readonly RANGE_COUNT=65536
readonly SYSCTL_FILE=/etc/sysctl.d/99-rkexec-test.conf
# uidmap: newuidmap, newgidmap, getsubids. gcc and libc6-dev: cgo (pkg/nsenter), go test -race, and
# libc.a for the static binary the tests run (scripts/build.sh).
# git: go build stamps VCS information in a checkout. ca-certificates: the Go module proxy over https.
# hyperfine and iperf3: make bench (iperf3's debconf question, start a daemon, is answered no by
# DEBIAN_FRONTEND=noninteractive: no iperf3 server is left running).
# docker.io (with containerd, runc, iptables), busybox-static and curl: the end-to-end test that runs
# dockerd-rootless.sh on rkexec (test/dockerd_test.go); its packaged services are kept from starting.
readonly PACKAGES=(uidmap slirp4netns iproute2 procps psmisc util-linux tmux hyperfine iperf3
	gcc libc6-dev git ca-certificates docker.io busybox-static curl)
# The daemons docker.io would start as root; the tests run their own, rootless.
readonly SYSTEM_DAEMONS=(dockerd containerd)
readonly POLICY_RC=/usr/sbin/policy-rc.d

say() { printf 'setup-test-env: %s\n' "$*"; }
die() {
	printf 'setup-test-env: error: %s\n' "$*" >&2
	exit 1
}

[[ $(id -u) -eq 0 ]] || die "run me as root (I install packages, add users and set sysctls)"

install_packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	if ((${#missing[@]} == 0)); then
		say "packages: all present (${PACKAGES[*]})"
		return
	fi
	export DEBIAN_FRONTEND=noninteractive
	local before
	before=$(running_daemons)
	apt-get update -q >/dev/null || die "apt-get update failed"
	# A policy-rc.d that answers 101 keeps the maintainer scripts (invoke-rc.d, deb-systemd-invoke)
	# from starting docker.service and containerd.service; a machine's own policy-rc.d is left alone.
	local own_policy=''
	if [[ ! -e $POLICY_RC ]]; then
		printf '#!/bin/sh\n# setup-test-env.sh: start no service while it installs packages\nexit 101\n' >"$POLICY_RC"
		chmod 0755 "$POLICY_RC"
		own_policy=1
		trap 'rm -f "$POLICY_RC"' EXIT # also when the install fails or is interrupted
	fi
	local rc=0
	apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
	if [[ -n $own_policy ]]; then
		rm -f "$POLICY_RC"
		trap - EXIT
	fi
	((rc == 0)) || die "apt-get install ${missing[*]} failed"
	say "packages: installed ${missing[*]}"
	stop_new_daemons "$before"
}

# running_daemons prints the pids of the SYSTEM_DAEMONS running as root, one a line.
running_daemons() {
	local d
	command -v pgrep >/dev/null || return 0 # procps comes with the packages: nothing ran before
	for d in "${SYSTEM_DAEMONS[@]}"; do
		pgrep -u 0 -x "$d" || true
	done
}

# stop_new_daemons BEFORE: if the install started a root dockerd or containerd anyway (a machine's own
# policy-rc.d allowed it), stop and disable the units; daemons that ran before (BEFORE) are not ours.
stop_new_daemons() {
	local now
	now=$(running_daemons)
	[[ -n $now && $now != "$1" ]] || return 0
	if [[ -d /run/systemd/system ]]; then
		systemctl disable --now docker.socket docker.service containerd.service >/dev/null 2>&1 || true
	else
		service docker stop >/dev/null 2>&1 || true
		service containerd stop >/dev/null 2>&1 || true
	fi
	now=$(running_daemons)
	[[ -z $now || $now == "$1" ]] ||
		die "installing docker.io started a root dockerd or containerd that would not stop (pids: $(echo $now)); stop it"
	say "packages: stopped the root dockerd/containerd the install started (the tests run their own)"
}

# has_range FILE USER UID: whether FILE has a line for USER (by name or by uid).
has_range() {
	[[ -f $1 ]] && grep -Eq "^($2|$3):" "$1"
}

# free_start prints the first id >= RANGE_START at which RANGE_COUNT ids overlap no range of any user
# in /etc/subuid or /etc/subgid, so one start serves both files.
free_start() {
	awk -F: -v start="$RANGE_START" -v want="$RANGE_COUNT" '
		/^[[:space:]]*(#|$)/ { next }
		NF >= 3 { s[n] = $2 + 0; e[n] = $2 + $3; n++ }
		END {
			c = start
			do {
				moved = 0
				for (i = 0; i < n; i++)
					if (c < e[i] && s[i] < c + want) { c = e[i]; moved = 1 }
			} while (moved)
			printf "%.0f\n", c
		}' /etc/subuid /etc/subgid
}

create_user() {
	local name=$1
	shift
	if id -u "$name" >/dev/null 2>&1; then
		say "user $name: exists (uid $(id -u "$name"))"
		return
	fi
	# SUB_*_COUNT=0: useradd allocates no subordinate ids; this script decides who gets which.
	useradd --shell /bin/bash -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$@" "$name" ||
		die "useradd $name failed"
	say "user $name: created (uid $(id -u "$name"))"
}

setup_users() {
	touch /etc/subuid /etc/subgid
	create_user "$TEST_USER" --create-home
	create_user "$TEST_USER2" --no-create-home

	local uid start='' f
	uid=$(id -u "$TEST_USER")
	for f in /etc/subuid /etc/subgid; do
		if has_range "$f" "$TEST_USER" "$uid"; then
			say "$f: $TEST_USER has a range: $(grep -E "^($TEST_USER|$uid):" "$f" | paste -sd ' ')"
			continue
		fi
		# Computed once, before either file changes, so both files get the same start.
		[[ -n $start ]] || start=$(free_start)
		((start + RANGE_COUNT <= 4294967295)) || die "no free range of $RANGE_COUNT ids in $f"
		echo "$TEST_USER:$start:$RANGE_COUNT" >>"$f"
		say "$f: added $TEST_USER:$start:$RANGE_COUNT"
	done

	# Older useradd versions ignore -K SUB_UID_COUNT=0, and someone may have added ranges by hand.
	uid=$(id -u "$TEST_USER2")
	for f in /etc/subuid /etc/subgid; do
		if has_range "$f" "$TEST_USER2" "$uid"; then
			sed -i -E "/^($TEST_USER2|$uid):/d" "$f"
			say "$f: removed the ranges of $TEST_USER2 (it must have none)"
		else
			say "$f: $TEST_USER2 has no range, as wanted"
		fi
	done
}

setup_tun() {
	if [[ ! -c /dev/net/tun ]]; then
		mkdir -p /dev/net
		mknod /dev/net/tun c 10 200
		say "/dev/net/tun: created (char 10:200)"
	fi
	# 0666 lets every local user open the device, which is what Debian's udev rule does anyway; a
	# container or minimal VM may create it 0600. Creating a tap still needs CAP_NET_ADMIN in the
	# namespace, which slirp4netns has inside rkexec's. Acceptable on a throwaway CI machine.
	if [[ $(stat -c %a /dev/net/tun) != 666 ]]; then
		chmod 0666 /dev/net/tun
		say "/dev/net/tun: mode set to 0666 (CI machine: every user may open it)"
	else
		say "/dev/net/tun: present, mode 0666"
	fi
}

# set_sysctl KEY VALUE WHY: set KEY now and across reboots (SYSCTL_FILE).
set_sysctl() {
	local key=$1 value=$2 why=$3
	sysctl -q -w "$key=$value" >/dev/null ||
		die "cannot set $key=$value ($why); in a container, run it with --privileged"
	touch "$SYSCTL_FILE"
	sed -i "/^$key[[:space:]]*=/d" "$SYSCTL_FILE"
	echo "$key = $value" >>"$SYSCTL_FILE"
	say "sysctl $key: set to $value in $SYSCTL_FILE ($why)"
}

setup_sysctls() {
	local f=/proc/sys/user/max_user_namespaces v
	[[ -r $f ]] || die "$f missing: the kernel has no user namespaces (CONFIG_USER_NS)"
	v=$(<"$f")
	if ((v > 0)); then
		say "sysctl user.max_user_namespaces: $v, allows user namespaces"
	else
		set_sysctl user.max_user_namespaces 15000 "0 forbids every user namespace"
	fi

	# Debian's and older Ubuntu kernels' switch for unprivileged user namespaces.
	f=/proc/sys/kernel/unprivileged_userns_clone
	if [[ ! -e $f ]]; then
		say "sysctl kernel.unprivileged_userns_clone: absent (the kernel does not restrict them this way)"
	elif [[ $(<"$f") == 1 ]]; then
		say "sysctl kernel.unprivileged_userns_clone: 1, allows them"
	else
		set_sysctl kernel.unprivileged_userns_clone 1 "0 forbids user namespaces to unprivileged users"
	fi

	# Ubuntu 23.10+: unconfined programs get user namespaces without capabilities, so rkexec cannot
	# mount anything in its own. On a CI machine we lift the restriction rather than write an
	# AppArmor profile for a binary the tests build into a temporary directory.
	f=/proc/sys/kernel/apparmor_restrict_unprivileged_userns
	if [[ ! -e $f ]]; then
		say "sysctl kernel.apparmor_restrict_unprivileged_userns: absent (no AppArmor restriction)"
	elif [[ $(<"$f") == 0 ]]; then
		say "sysctl kernel.apparmor_restrict_unprivileged_userns: 0, no restriction"
	else
		set_sysctl kernel.apparmor_restrict_unprivileged_userns 0 \
			"1 denies capabilities inside user namespaces to unconfined programs"
	fi
}

check_helpers() {
	local h
	for h in newuidmap newgidmap; do
		h=$(command -v "$h") || die "$h not found after installing uidmap"
		if [[ -u $h ]] || { command -v getcap >/dev/null && [[ -n $(getcap "$h") ]]; }; then
			say "$h: setuid root or has file capabilities"
		else
			die "$h is neither setuid nor has file capabilities (reinstall uidmap)"
		fi
	done
}

# check_userns proves the set-up: the test user creates a user namespace and, as root in it, a mount
# namespace (the second part fails when AppArmor or a seccomp profile strips the capabilities).
check_userns() {
	if runuser -u "$TEST_USER" -- unshare --user --map-root-user --mount true 2>/dev/null; then
		say "user namespaces: usable by $TEST_USER (unshare --user --map-root-user --mount)"
	else
		die "$TEST_USER cannot create a user+mount namespace (unshare --user --map-root-user --mount true fails); in a container, run it with --privileged"
	fi
}

install_packages
setup_users
setup_tun
setup_sysctls
check_helpers
check_userns
