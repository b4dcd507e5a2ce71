#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# kt: build and test the guest_memfd series on Debian's linux-source-6.1.
# Run `./kt help` for the commands; README.md explains the workflow.
#
# This file holds the settings and the dispatcher; the commands live in
# lib/kt/, a file per concern (README.md, "kt's layout"):
#   common.sh  messages, phase times, Debian packages
#   tree.sh    the base and the tree: fetch, tree, export, rebase
#   build.sh   config fragments and kernels: build
#   vm.sh      selftests and the test VM: test, bench, soak
#   checks.sh  checks of the series: lint, bisect, quilt-check
#   debian.sh  Debian's own config: build --config debian
set -euo pipefail

TOP=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
BUILD=${KT_BUILD:-$TOP/build}
TREE=$BUILD/linux
DL=$BUILD/dl
# shellcheck source=base.conf
. "$TOP/base.conf"

FLAVOURS="default debug"
JOBS=${KT_JOBS:-$(nproc)}

# Packages by purpose; `need` installs the missing ones with apt-get.
PKGS_BASE="ca-certificates git xz-utils"
PKGS_BUILD="build-essential bc bison flex libelf-dev libssl-dev python3 perl"
PKGS_TEST="qemu-system-x86 busybox-static"
# Debian's config: pahole for its BTF options (without it, Kconfig turns
# them off); its packages: bindeb-pkg's build dependencies, and openssl for
# the module signing key.
PKGS_DEBIAN="dwarves"
PKGS_DEB="rsync kmod cpio dpkg-dev fakeroot openssl"

# shellcheck source=lib/kt/common.sh
. "$TOP/lib/kt/common.sh"
# shellcheck source=lib/kt/tree.sh
. "$TOP/lib/kt/tree.sh"
# shellcheck source=lib/kt/build.sh
. "$TOP/lib/kt/build.sh"
# shellcheck source=lib/kt/vm.sh
. "$TOP/lib/kt/vm.sh"
# shellcheck source=lib/kt/checks.sh
. "$TOP/lib/kt/checks.sh"
# shellcheck source=lib/kt/debian.sh
. "$TOP/lib/kt/debian.sh"

# --- main --------------------------------------------------------------

usage() {
	cat <<'USAGE'
usage: ./kt COMMAND [options]

  build [--flavour F]   build the patched kernel (bzImage) - the main job
  build --config debian [--series-objects]
                        with Debian's amd64 config (pinned linux-config-6.1),
                        plus the series' options at their defaults: make
                        bindeb-pkg, packages in build/out/; or compile only the
                        objects of the C files the series changes, failing on
                        any warning (CI)
  test  [--flavour F]   build kernel + kvm selftests, run them in a QEMU VM
  bench [--flavour F] [--wall]
                        the same for tests/bench.list, printing the figures,
                        timed by instruction count (QEMU -icount) unless --wall;
                        goals (-g) only under icount on the default kernel
  soak  [--flavour F] [--minutes N] [--seed S]
                        the race soak (guest_memfd_stress_test) alone, for N
                        minutes (default 10), its counts printed; S repeats
                        a run's choices (each run prints its seed)
  tree [--reset]        make build/linux: the pinned base + patches/ (git am)
  export                regenerate patches/ from build/linux's commits
  fetch                 download and verify the pinned base tarball
  rebase VERSION        move the series onto that revision of linux-source-6.1
                        (git am -3 in build/linux); on success rewrite base.conf
                        and re-export patches/
  rebase --continue     go on after resolving a conflict (or --abort: go back)
  lint                  checkpatch --strict over every patch
  bisect                apply the series one patch at a time, building each
  quilt-check [--keep]  quilt push -a --fuzz=0 of patches/ onto the unpacked base:
                        no fuzz or offset, and the result equals the git tree
  help                  this text

  --flavour F   default (the default), debug, or all (both); F may be a list
  --as-is       build build/linux even if it differs from patches/
  --list FILE   run the tests of FILE instead of tests/kvm-selftests.list
                (tests/bench.list holds the benchmarks)
  --verbose     print every test's output, not only that of failures
  --kernel PATH test (or bench) this bzImage of the flavour; build none
USAGE
}

main() {
	local cmd=${1:-help}
	[ $# -gt 0 ] && shift
	case $cmd in
	build) if wants_config "$@"; then cmd_build_config "$@"; else cmd_build "$@"; fi ;;
	test) cmd_test "$@" ;;
	bench) cmd_bench "$@" ;;
	soak) cmd_soak "$@" ;;
	tree) need "$PKGS_BASE"; cmd_tree "$@" ;;
	export) cmd_export "$@" ;;
	fetch) cmd_fetch ;;
	rebase) cmd_rebase "$@" ;;
	lint) cmd_lint "$@" ;;
	bisect) cmd_bisect "$@" ;;
	quilt-check) cmd_quilt_check "$@" ;;
	help | -h | --help) usage ;;
	*) usage >&2; exit 2 ;;
	esac
}

main "$@"
