# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# kt, the VM and its tests: the kvm selftests build, the initramfs, the
# QEMU run of a list (tests/vmtest.py), test and bench.  Sourced by ./kt.

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
