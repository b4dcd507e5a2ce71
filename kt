#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# kt: build and test the guest_memfd series on Debian's linux-source-6.1.
# Run `./kt help` for the commands; README.md explains the workflow.
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

say() { printf 'kt: %s\n' "$*"; }
die() { printf 'kt: error: %s\n' "$*" >&2; exit 1; }

# Phase timing: every phase prints how long it took, and `timings` lists
# them all at the end of a command.  A failing phase ends kt (set -e); never
# call phase in an && or || list, where bash ignores set -e in everything
# the function runs.
TIMINGS=()
phase() {
	local name=$1 t0
	shift
	t0=$(date +%s)
	"$@"
	TIMINGS+=("$(printf '%-28s %5ss' "$name" $(( $(date +%s) - t0 )))")
	say "phase $name: $(( $(date +%s) - t0 ))s"
}
timings() {
	local t
	[ ${#TIMINGS[@]} -gt 0 ] || return 0
	echo "kt: phase times:"
	for t in "${TIMINGS[@]}"; do echo "kt:   $t"; done
}

# --- dependencies ------------------------------------------------------

missing_pkgs() {
	local p
	for p in "$@"; do
		[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] ||
			printf '%s ' "$p"
	done
}

as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		sudo "$@"
	else
		return 1
	fi
}

# need PKG...: make sure the Debian packages are installed.
need() {
	local miss
	command -v dpkg-query >/dev/null || die "this needs a Debian 12 machine (no dpkg-query)"
	miss=$(missing_pkgs "$@")
	[ -n "$miss" ] || return 0
	say "installing: $miss"
	# shellcheck disable=SC2086
	if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $miss >/dev/null 2>&1; then
		as_root apt-get update -q >/dev/null 2>&1 || true
		# shellcheck disable=SC2086
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $miss >/dev/null ||
			die "missing packages: $miss (install them with: sudo apt-get install $miss)"
	fi
	miss=$(missing_pkgs "$@")
	[ -z "$miss" ] || die "missing packages after apt-get install: $miss"
}

# --- the pinned base ---------------------------------------------------

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

tarball() { echo "$DL/$BASE_PACKAGE-$BASE_VERSION.tar.xz"; }

# Download the pinned package with apt-get, check both checksums and leave
# the kernel tarball in $DL.  Nothing is unpacked until both match.
cmd_fetch() {
	local tb deb got tmp
	need $PKGS_BASE
	tb=$(tarball)
	if [ -f "$tb" ] && [ "$(sha256_of "$tb")" = "$BASE_TARBALL_SHA256" ]; then
		return 0
	fi
	mkdir -p "$DL"
	deb="$DL/${BASE_PACKAGE}_${BASE_VERSION}_all.deb"
	if ! [ -f "$deb" ] || [ "$(sha256_of "$deb")" != "$BASE_DEB_SHA256" ]; then
		tmp=$(mktemp -d "$DL/apt.XXXXXX")
		say "downloading $BASE_PACKAGE=$BASE_VERSION with apt-get"
		if ! (cd "$tmp" && apt-get download -q "$BASE_PACKAGE=$BASE_VERSION") >/dev/null 2>&1; then
			as_root apt-get update -q >/dev/null 2>&1 || true
			(cd "$tmp" && apt-get download -q "$BASE_PACKAGE=$BASE_VERSION" >/dev/null) ||
				{ rm -rf "$tmp"; die "apt cannot get $BASE_PACKAGE=$BASE_VERSION (see base.conf); is Debian 12's security archive in sources.list?"; }
		fi
		mv "$tmp"/*.deb "$deb.part" && rm -rf "$tmp"
		got=$(sha256_of "$deb.part")
		if [ "$got" != "$BASE_DEB_SHA256" ]; then
			rm -f "$deb.part"
			die "checksum mismatch for $BASE_PACKAGE $BASE_VERSION .deb: got $got, base.conf pins $BASE_DEB_SHA256"
		fi
		mv "$deb.part" "$deb"
	fi
	dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/$BASE_PACKAGE.tar.xz" >"$tb.part"
	got=$(sha256_of "$tb.part")
	if [ "$got" != "$BASE_TARBALL_SHA256" ]; then
		rm -f "$tb.part"
		die "checksum mismatch for the tarball in $deb: got $got, base.conf pins $BASE_TARBALL_SHA256"
	fi
	mv "$tb.part" "$tb"
	say "base: $tb (sha256 ok)"
}

# --- the kernel git tree and the series --------------------------------

series() { grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$TOP/patches/series" 2>/dev/null || true; }

git_t() { git -C "$TREE" "$@"; }

# An identity for commits kt makes itself when the user has none.
git_ident() {
	git config user.email >/dev/null 2>&1 && return 0
	export GIT_COMMITTER_NAME=kt GIT_COMMITTER_EMAIL=kt@localhost
}

# Make $TREE: the pristine base as one commit tagged "base", then the series
# applied with git am.  Built in a scratch directory, so an interrupted run
# never leaves a half-made tree behind.
make_tree() {
	local new=$BUILD/linux.new p
	cmd_fetch
	rm -rf "$new"
	mkdir -p "$new"
	say "unpacking $BASE_PACKAGE $BASE_VERSION"
	tar -xf "$(tarball)" -C "$new" --strip-components=1
	git -C "$new" init -q -b main
	git -C "$new" config core.abbrev 12
	# -f: the base commit is the tarball exactly, whatever .gitignore says.
	git -C "$new" add -A -f .
	GIT_AUTHOR_NAME="Debian kernel team" GIT_AUTHOR_EMAIL=debian-kernel@lists.debian.org \
	GIT_COMMITTER_NAME=kt GIT_COMMITTER_EMAIL=kt@localhost \
	GIT_AUTHOR_DATE="2000-01-01T00:00:00Z" GIT_COMMITTER_DATE="2000-01-01T00:00:00Z" \
		git -C "$new" commit -q -m "Debian $BASE_PACKAGE $BASE_VERSION"
	git -C "$new" tag base
	git_ident
	for p in $(series); do
		git -C "$new" am -q "$TOP/patches/$p" ||
			die "patches/$p does not apply (see $new)"
	done
	mv "$new" "$TREE"
	say "tree: $TREE (base + $(series | wc -l) patches)"
}

export_to() {
	git_t -c core.abbrev=12 -c diff.noprefix=false -c diff.mnemonicPrefix=false \
		-c diff.renames=true -c format.signOff=false -c format.coverLetter=false \
		format-patch -q --no-signature --zero-commit --numbered --abbrev=12 \
		-o "$1" base..HEAD >/dev/null
	(cd "$1" && find . -maxdepth 1 -name '*.patch' -printf '%f\n' | sort) >"$1/series"
}

# Does the tree hold exactly what patches/ holds (committed, nothing else)?
tree_matches_series() {
	local tmp rc=0
	tmp=$(mktemp -d)
	export_to "$tmp"
	diff -r -q -x checkpatch.exceptions "$tmp" "$TOP/patches" >/dev/null 2>&1 || rc=1
	rm -rf "$tmp"
	[ -z "$(git_t status --porcelain -uno)" ] || rc=1
	return $rc
}

# Every build writes outside the tree (O=, OUTPUT=), so an untracked file in
# it is a new source file nobody added.  Debian's top-level .gitignore
# ignores everything ("/*"), so git status would not show it: ask for all.
check_untracked() {
	local files
	files=$(git_t ls-files --others | head -n 5)
	[ -z "$files" ] || die "untracked files in $TREE (add them with git add -f and commit):
$files"
}

# The tree the build uses.  A missing tree is made from patches/; an existing
# one must agree with patches/ unless --as-is, so nobody builds a stale tree
# or tests work that was never exported.
ensure_tree() {
	local as_is=$1
	if ! [ -d "$TREE/.git" ]; then
		make_tree
		return
	fi
	[ "$as_is" = 1 ] && { say "building $TREE as it is (--as-is)"; return 0; }
	check_untracked
	tree_matches_series && return 0
	die "$TREE and patches/ differ.
  Work of yours in the tree: commit it there, then ./kt export.
  patches/ newer (after a pull): ./kt tree --reset makes the tree anew.
  To build the tree as it stands anyway: add --as-is."
}

cmd_tree() {
	local reset=0
	[ "${1:-}" = --reset ] && reset=1
	if [ -d "$TREE/.git" ]; then
		[ $reset = 1 ] || { say "$TREE exists (./kt tree --reset to make it anew)"; return 0; }
		[ -z "$(git_t status --porcelain -uno)" ] ||
			die "$TREE has uncommitted changes; commit or discard them first"
		local keep
		keep="$BUILD/linux.old-$(date +%Y%m%d-%H%M%S)"
		mv "$TREE" "$keep"
		say "old tree kept as $keep"
	fi
	phase unpack make_tree
}

cmd_export() {
	local tmp
	[ -d "$TREE/.git" ] || die "no tree at $TREE (./kt tree)"
	git_t merge-base --is-ancestor base HEAD || die "HEAD of $TREE does not descend from the base tag"
	[ -z "$(git_t status --porcelain -uno)" ] ||
		die "$TREE has uncommitted changes: commit them first"
	check_untracked
	tmp=$(mktemp -d)
	export_to "$tmp"
	rm -f "$TOP"/patches/*.patch "$TOP/patches/series"
	cp "$tmp"/* "$TOP/patches/"
	rm -rf "$tmp"
	say "exported $(series | wc -l) patches to patches/"
	git -C "$TOP" status --short -- patches
}

# --- kernel config and build -------------------------------------------

fragments() {
	local f
	for f in base kvm selftests; do echo "$TOP/configs/$f.config"; done
	case $1 in
	default) ;;
	debug) echo "$TOP/configs/debug.config" ;;
	*) die "unknown flavour '$1' (flavours: $FLAVOURS)" ;;
	esac
}

outdir() { echo "$BUILD/out/$1"; }

# How much slower a flavour's kernel runs the tests: KASAN and lockdep under
# TCG take several times as long.
timeout_scale() {
	case $1 in
	debug) echo 4 ;;
	*) echo 1 ;;
	esac
}

# Every option a fragment asks for must be in the final .config.  With
# KT_KNOWN_ONLY=TREE (bisect), options that TREE's Kconfig does not define
# yet are skipped: a fragment may ask for what a later patch adds.
check_config() {
	local cfg=$1 frag line opt bad="" known=""
	shift
	if [ -n "${KT_KNOWN_ONLY:-}" ]; then
		known=$(grep -rhoE --include='Kconfig*' '^(menu)?config [A-Za-z0-9_]+' "$KT_KNOWN_ONLY" |
			awk '{ print "CONFIG_" $2 }' | sort -u)
	fi
	for frag in "$@"; do
		while IFS= read -r line; do
			opt=${line#\# }
			opt=${opt%%[= ]*}
			if [ -n "$known" ] && [[ $opt == CONFIG_* ]] && ! grep -qxF "$opt" <<<"$known"; then
				continue
			fi
			case $line in
			"# CONFIG_"*" is not set")
				opt=${line#\# }
				opt=${opt%% *}
				grep -q "^$opt=" "$cfg" && bad+="  $line (got: $(grep "^$opt=" "$cfg"))"$'\n'
				;;
			CONFIG_*=*)
				grep -qxF "$line" "$cfg" ||
					bad+="  $line (got: $(grep -e "^${line%%=*}=" -e "# ${line%%=*} is" "$cfg" || echo unset))"$'\n'
				;;
			esac
		done <"$frag"
	done
	[ -z "$bad" ] || die "options that did not take in $cfg:"$'\n'"$bad"
}

# configure FLAVOUR [SRC OUT]: .config for FLAVOUR from the fragments.
configure() {
	local flavour=$1 src=${2:-$TREE} out=${3:-$(outdir "$1")} frags
	mapfile -t frags < <(fragments "$flavour")
	mkdir -p "$out"
	[ -f "$out/.config" ] && cp -p "$out/.config" "$out/.config.prev"
	(cd "$src" && scripts/kconfig/merge_config.sh -n -O "$out" "${frags[@]}") >"$out/merge_config.log" 2>&1 ||
		{ cat "$out/merge_config.log"; die "merge_config.sh failed"; }
	make -s -C "$src" O="$out" olddefconfig >/dev/null
	check_config "$out/.config" "${frags[@]}"
	# Keep the old file (and its mtime) when nothing changed, so an
	# unchanged config does not make kbuild re-sync.
	if [ -f "$out/.config.prev" ] && cmp -s "$out/.config" "$out/.config.prev"; then
		mv "$out/.config.prev" "$out/.config"
	else
		rm -f "$out/.config.prev"
	fi
}

cc_var() {
	command -v ccache >/dev/null && echo "CC=ccache gcc" || echo "CC=gcc"
}

kbuild() {
	local flavour=$1 out
	out=$(outdir "$flavour")
	make -s -C "$TREE" O="$out" -j"$JOBS" "$(cc_var)" bzImage
	say "kernel ($flavour): $out/arch/x86/boot/bzImage"
}

build_flavour() {
	local flavour=$1
	phase "config ($flavour)" configure "$flavour"
	phase "build ($flavour)" kbuild "$flavour"
}

# Common option parsing: --flavour NAME|all, --as-is, --kernel PATH.
parse_opts() {
	OPT_FLAVOURS=default
	OPT_AS_IS=0
	OPT_VERBOSE=()
	OPT_KERNEL=
	while [ $# -gt 0 ]; do
		case $1 in
		--flavour=*) OPT_FLAVOURS=${1#*=} ;;
		--flavour) shift; OPT_FLAVOURS=${1:-} ;;
		--debug) OPT_FLAVOURS=debug ;;
		--as-is) OPT_AS_IS=1 ;;
		--list=*) LIST=$(readlink -f "${1#*=}") ;;
		--list) shift; LIST=$(readlink -f "${1:-}") ;;
		--verbose) OPT_VERBOSE=(--verbose) ;;
		--kernel=*) OPT_KERNEL=$(readlink -f "${1#*=}") ;;
		--kernel) shift; OPT_KERNEL=$(readlink -f "${1:-}") ;;
		*) die "unknown option '$1' (./kt help)" ;;
		esac
		shift
	done
	[ "$OPT_FLAVOURS" = all ] && OPT_FLAVOURS=$FLAVOURS
	OPT_FLAVOURS=${OPT_FLAVOURS//,/ }
	local f
	for f in $OPT_FLAVOURS; do fragments "$f" >/dev/null; done
	[ -f "$LIST" ] || die "no test list $LIST"
	if [ -n "$OPT_KERNEL" ]; then
		[ -f "$OPT_KERNEL" ] || die "no kernel $OPT_KERNEL"
		[ "$(wc -w <<<"$OPT_FLAVOURS")" = 1 ] || die "--kernel is one kernel: give one --flavour"
	fi
}

prepare_build() {
	need $PKGS_BASE $PKGS_BUILD
	if [ -d "$TREE/.git" ]; then
		ensure_tree "$OPT_AS_IS"
	else
		phase unpack make_tree
	fi
}

cmd_build() {
	local f
	parse_opts "$@"
	prepare_build
	for f in $OPT_FLAVOURS; do build_flavour "$f"; done
	timings
}

# --- selftests and the test VM -----------------------------------------

LIST=$TOP/tests/kvm-selftests.list
SELFTESTS=$BUILD/selftests
OPT_ICOUNT=0
OPT_BENCH=0

list_tests() { awk '!/^[[:space:]]*(#|$)/ { print $2 }' "$LIST"; }

build_selftests() {
	local targets=() t
	make -s -C "$TREE" O="$BUILD/hdr" headers
	for t in $(list_tests); do targets+=("$SELFTESTS/$t"); done
	make -s -C "$TREE/tools/testing/selftests/kvm" -j"$JOBS" \
		OUTPUT="$SELFTESTS" KHDR_INCLUDES="-isystem $BUILD/hdr/usr/include" \
		EXTRA_CFLAGS=-static "${targets[@]}" >"$BUILD/selftests.log" 2>&1 ||
		{ grep -E -A5 'error|Error' "$BUILD/selftests.log" | head -n 60; die "kvm selftests build failed (log: $BUILD/selftests.log)"; }
}

# The list a flavour's VM runs: $LIST, but for the goals of the
# benchmarks.  A benchmark's -g enforces its goals, ratios of instruction
# counts set on the default kernel: ./kt bench keeps it only there, under
# icount, and drops it from the lines of the list under --wall (TCG
# spreads the figures by 20-50%, more than the goals' margins) and on the
# debug kernel (KASAN and lockdep weigh on every path differently).
run_list() {
	local out=$BUILD/bench-nogoals.list
	if [ "$OPT_BENCH" = 1 ] && { [ "$OPT_ICOUNT" = 0 ] || [ "$1" != default ]; }; then
		sed -E '/^[[:space:]]*#/! s/[[:space:]]-g([[:space:]]|$)/\1/g' "$LIST" >"$out"
		echo "$out"
	else
		echo "$LIST"
	fi
}

# busybox, /init and the listed tests, packed by the tree's own
# gen_init_cpio (it makes /dev/console without needing root); the VM runs
# them as LISTFILE (default: $LIST) says.
make_initramfs() {
	local root=$BUILD/initramfs list=$BUILD/initramfs.files t runs=${1:-$LIST}
	gcc -O2 -o "$BUILD/gen_init_cpio" "$TREE/usr/gen_init_cpio.c"
	rm -rf "$root"
	mkdir -p "$root"
	{
		printf 'dir /%s 0755 0 0\n' dev proc sys tmp bin kvm kvm/x86_64
		echo "nod /dev/console 0600 0 0 c 5 1"
		echo "file /init $TOP/tests/vm-init 0755 0 0"
		echo "file /bin/busybox /bin/busybox 0755 0 0"
		echo "file /kvm/tests.list $runs 0644 0 0"
		for t in $(list_tests); do
			mkdir -p "$(dirname "$root/$t")"
			strip --strip-debug -o "$root/$t" "$SELFTESTS/$t"
			echo "file /kvm/$t $root/$t 0755 0 0"
		done
	} >"$list"
	"$BUILD/gen_init_cpio" "$list" >"$BUILD/initramfs.cpio"
	say "initramfs: $BUILD/initramfs.cpio ($(du -m "$BUILD/initramfs.cpio" | cut -f1) MiB, $(list_tests | wc -l) tests)"
}

# Run the suite on one flavour's kernel (or --kernel's), as LISTFILE (the
# one packed in the initramfs) says; the VM's results land in
# build/logs/FLAVOUR (summary.json is what the totals are read from).
run_suite() {
	local flavour=$1 list=$2 kernel leak=() mode=()
	kernel=$(outdir "$flavour")/arch/x86/boot/bzImage
	if [ -n "$OPT_KERNEL" ]; then
		kernel=$OPT_KERNEL
		[ "$flavour" = debug ] && leak=(--kmemleak)
	else
		grep -q '^CONFIG_DEBUG_KMEMLEAK=y' "$(outdir "$flavour")/.config" && leak=(--kmemleak)
	fi
	rm -rf "$BUILD/logs/$flavour"
	if [ "$OPT_ICOUNT" = 1 ]; then
		# Under icount the guest's TSC counts instructions: 1 GHz.
		mode=(--icount --append "tsc_early_khz=1000000")
	else
		gcc -O2 -o "$BUILD/tsc_khz" "$TOP/tests/tsc_khz.c"
		mode=(--append "tsc_early_khz=$("$BUILD/tsc_khz")")
	fi
	# Its verdict is read from summary.json; a run with none has failed.
	python3 "$TOP/tests/vmtest.py" --kernel "$kernel" \
		--initrd "$BUILD/initramfs.cpio" --list "$list" \
		--logdir "$BUILD/logs/$flavour" --flavour "$flavour" "${leak[@]}" "${OPT_VERBOSE[@]}" \
		--timeout-scale "$(timeout_scale "$flavour")" "${mode[@]}" || true
}

summary_field() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"
}

cmd_test() {
	local f rc=0 passed=0 failed=0 skipped=0 s list packed=
	parse_opts "$@"
	need $PKGS_TEST
	mkdir -p "$BUILD"
	python3 "$TOP/tests/test_vmtest.py" >"$BUILD/harness-selftest.log" 2>&1 ||
		{ cat "$BUILD/harness-selftest.log"; die "the harness's own self-test failed"; }
	if [ -n "$OPT_KERNEL" ]; then
		need $PKGS_BASE $PKGS_BUILD
		[ -d "$TREE/.git" ] || die "no tree at $TREE for the selftests (./kt tree)"
		say "kernel: $OPT_KERNEL (not built); selftests from $TREE as it is"
	else
		prepare_build
	fi
	phase selftests build_selftests
	for f in $OPT_FLAVOURS; do
		[ -n "$OPT_KERNEL" ] || build_flavour "$f"
		list=$(run_list "$f")
		[ "$list" = "$LIST" ] ||
			say "$f: the benchmarks' goals (-g) are not enforced: only under icount on the default kernel"
		if [ "$list" != "$packed" ]; then
			phase initramfs make_initramfs "$list"
			packed=$list
		fi
		phase "vm ($f)" run_suite "$f" "$list"
		s=$BUILD/logs/$f/summary.json
		if [ -f "$s" ]; then
			TIMINGS+=("$(printf '%-28s %5ss' "  boot ($f)" "$(summary_field "$s" boot_secs)")")
			TIMINGS+=("$(printf '%-28s %5ss' "  suite ($f)" "$(summary_field "$s" suite_secs)")")
			passed=$((passed + $(summary_field "$s" passed)))
			failed=$((failed + $(summary_field "$s" failed)))
			skipped=$((skipped + $(summary_field "$s" skipped)))
		else
			failed=$((failed + 1))
		fi
	done
	timings
	[ "$passed" -gt 0 ] || rc=1
	[ "$failed" -eq 0 ] || rc=1
	echo "$passed passed, $failed failed, $skipped skipped"
	return $rc
}

# The benchmarks of tests/bench.list, their output printed, in a VM whose
# virtual time follows the instruction count (QEMU -icount, one vCPU): the
# figures repeat from run to run.  --wall: the usual VM, timed by the
# host's clock, as ./kt test would run them.  Goals (-g) are enforced only
# under icount on the default kernel (see run_list).
cmd_bench() {
	local args=()
	OPT_ICOUNT=1
	OPT_BENCH=1
	LIST=$TOP/tests/bench.list
	while [ $# -gt 0 ]; do
		case $1 in
		--wall) OPT_ICOUNT=0 ;;
		*) args+=("$1") ;;
		esac
		shift
	done
	cmd_test --verbose "${args[@]}"
}

# --- lint and bisect ---------------------------------------------------

EXCEPTIONS=$TOP/patches/checkpatch.exceptions

# checkpatch --strict over every patch.  A finding passes only if
# patches/checkpatch.exceptions names its patch and type with a reason:
#   <patch file> <TYPE> <reason>
checkpatch_all() {
	local p line type bad=0 excused=0 total=0
	for p in $(series); do
		while IFS= read -r line; do
			case $line in *": ERROR:"* | *": WARNING:"* | *": CHECK:"*) ;; *) continue ;; esac
			total=$((total + 1))
			type=$(sed -E 's/.*: (ERROR|WARNING|CHECK):([A-Z_0-9]+):.*/\2/' <<<"$line")
			if [ -f "$EXCEPTIONS" ] && grep -qE "^$p[[:space:]]+$type[[:space:]]+[^[:space:]]" "$EXCEPTIONS"; then
				excused=$((excused + 1))
				echo "  excused: $line"
			else
				bad=$((bad + 1))
				echo "  $line"
			fi
		done < <(cd "$TOP/patches" && perl "$TREE/scripts/checkpatch.pl" --strict --show-types \
				--terse --no-summary --root="$TREE" "$p" 2>&1)
	done
	say "checkpatch --strict: $(series | wc -l) patches, $total findings, $excused excused, $bad not"
	[ "$bad" = 0 ] || LINT_BAD=1
}

# Lines the series adds to FILE, as "start,count" ranges.
added_ranges() {
	git_t diff -U0 base..HEAD -- "$1" | sed -nE 's/^@@ -[0-9,]+ \+([0-9]+)(,([0-9]+))? @@.*/\1 \3/p'
}

# sparse (make C=2) on the kernel C files the series touches; a warning on
# a line the series added fails.  Older warnings of 6.1 itself are shown
# but do not count.
sparse_touched() {
	local f out bad=0 w line start count
	need sparse
	out=$(outdir default)
	[ -f "$out/.config" ] || configure default
	for f in $(git_t diff --name-only --diff-filter=AM base..HEAD -- '*.c' | grep -v '^tools/'); do
		w=$(make -s -C "$TREE" O="$out" C=2 "$(cc_var)" "${f%.c}.o" 2>&1 |
			grep -E "^([^ ]*/)?$f:[0-9]+:[0-9]+: (warning|error):" || true)
		[ -n "$w" ] || continue
		while IFS= read -r line; do
			local n=${line#*"$f":}
			n=${n%%:*}
			local mine=0
			while read -r start count; do
				count=${count:-1}
				[ "$n" -ge "$start" ] && [ "$n" -lt $((start + count)) ] && mine=1
			done < <(added_ranges "$f")
			if [ $mine = 1 ]; then bad=$((bad + 1)); echo "  $line"; else echo "  (6.1's own) $line"; fi
		done <<<"$w"
	done
	say "sparse: $bad warning(s) on lines the series adds"
	[ "$bad" = 0 ] || LINT_BAD=1
}

cmd_lint() {
	LINT_BAD=0
	need $PKGS_BASE $PKGS_BUILD
	if ! [ -d "$TREE/.git" ]; then phase unpack make_tree; fi
	ensure_tree 0
	phase checkpatch checkpatch_all
	phase sparse sparse_touched
	timings
	[ "$LINT_BAD" = 0 ]
}

# Apply the series one patch at a time to a clean worktree of the base and
# build each step (kernel, and the kvm selftests when a patch touches them).
# Builds are incremental, so only what a patch changes is rebuilt.
cmd_bisect() {
	local wt=$BUILD/bisect out=$BUILD/out/bisect p n=0 total
	need $PKGS_BASE $PKGS_BUILD
	if ! [ -d "$TREE/.git" ]; then phase unpack make_tree; fi
	git_ident
	if [ -d "$wt" ]; then
		git -C "$wt" am --abort >/dev/null 2>&1 || true
		git -C "$wt" checkout -q --detach base
	else
		git_t worktree add -q --detach "$wt" base
	fi
	mkdir -p "$out"
	total=$(series | wc -l)
	make -s -C "$wt" O="$BUILD/hdr-bisect" headers
	for p in "" $(series); do
		if [ -n "$p" ]; then
			n=$((n + 1))
			git -C "$wt" am -q "$TOP/patches/$p" || die "[$n/$total] $p does not apply"
		fi
		say "[$n/$total] ${p:-base}"
		KT_KNOWN_ONLY=$wt configure default "$wt" "$out"
		make -s -C "$wt" O="$out" -j"$JOBS" "$(cc_var)" bzImage ||
			die "[$n/$total] $p: kernel build failed"
		if [ -n "$p" ] && git -C "$wt" diff --quiet HEAD~1 -- tools/testing/selftests/kvm include/uapi arch/x86/include/uapi; then
			continue
		fi
		# 6.1's selftests do not build at the base; a step fails only
		# if a selftest that built before it no longer does.
		make -s -C "$wt" O="$BUILD/hdr-bisect" headers
		make -k -s -C "$wt/tools/testing/selftests/kvm" -j"$JOBS" OUTPUT="$BUILD/selftests-bisect" \
			KHDR_INCLUDES="-isystem $BUILD/hdr-bisect/usr/include" >"$BUILD/bisect-selftests.log" 2>&1 || true
		grep -oE '\*\*\* \[[^]]*\] Error' "$BUILD/bisect-selftests.log" | sed -E 's/.*: ([^]]+)\] Error/\1/' |
			sort >"$BUILD/bisect-broken.new" || true
		if [ -n "$p" ] && [ -n "$(comm -13 "$BUILD/bisect-broken" "$BUILD/bisect-broken.new")" ]; then
			die "[$n/$total] $p breaks the selftests build: $(comm -13 "$BUILD/bisect-broken" "$BUILD/bisect-broken.new" | tr '\n' ' ')(log: $BUILD/bisect-selftests.log)"
		fi
		mv "$BUILD/bisect-broken.new" "$BUILD/bisect-broken"
		if [ -s "$BUILD/bisect-broken" ]; then
			say "  selftests that do not build yet: $(wc -l <"$BUILD/bisect-broken")"
		fi
	done
	if [ -s "$BUILD/bisect-broken" ]; then
		die "after the whole series these selftests still do not build: $(tr '\n' ' ' <"$BUILD/bisect-broken")"
	fi
	say "bisect: all $total steps build"
}

# --- main --------------------------------------------------------------

usage() {
	cat <<'USAGE'
usage: ./kt COMMAND [options]

  build [--flavour F]   build the patched kernel (bzImage) - the main job
  test  [--flavour F]   build kernel + kvm selftests, run them in a QEMU VM
  bench [--flavour F] [--wall]
                        the same for tests/bench.list, printing the figures,
                        timed by instruction count (QEMU -icount) unless --wall;
                        goals (-g) only under icount on the default kernel
  tree [--reset]        make build/linux: the pinned base + patches/ (git am)
  export                regenerate patches/ from build/linux's commits
  fetch                 download and verify the pinned base tarball
  lint                  checkpatch --strict over every patch
  bisect                apply the series one patch at a time, building each
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
	build) cmd_build "$@" ;;
	test) cmd_test "$@" ;;
	bench) cmd_bench "$@" ;;
	tree) need $PKGS_BASE; cmd_tree "$@" ;;
	export) cmd_export "$@" ;;
	fetch) cmd_fetch ;;
	lint) cmd_lint "$@" ;;
	bisect) cmd_bisect "$@" ;;
	help | -h | --help) usage ;;
	*) usage >&2; exit 2 ;;
	esac
}

main "$@"
