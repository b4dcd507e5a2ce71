# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# kt, the VM and its tests: the kvm selftests build, the initramfs, the
# QEMU run of a list (tests/vmtest.py), test, bench and soak.  Sourced by
# ./kt.

# --- selftests and the test VM -----------------------------------------

LIST=$TOP/tests/kvm-selftests.list
SELFTESTS=$BUILD/selftests
# kt's own tests (tests/kt/, built): /kvm/kt/ in the VM, kt/NAME in a list.
KT_TESTS=$BUILD/kt
OPT_ICOUNT=0
OPT_BENCH=0

list_tests() { awk '!/^[[:space:]]*(#|$)/ { print $2 }' "$LIST"; }
list_selftests() { list_tests | grep -v '^kt/' || true; }

build_selftests() {
	local targets=() t
	make -s -C "$TREE" O="$BUILD/hdr" headers
	for t in $(list_selftests); do targets+=("$SELFTESTS/$t"); done
	make -s -C "$TREE/tools/testing/selftests/kvm" -j"$JOBS" \
		OUTPUT="$SELFTESTS" KHDR_INCLUDES="-isystem $BUILD/hdr/usr/include" \
		EXTRA_CFLAGS=-static "${targets[@]}" >"$BUILD/selftests.log" 2>&1 ||
		{ grep -E -A5 'error|Error' "$BUILD/selftests.log" | head -n 60; die "kvm selftests build failed (log: $BUILD/selftests.log)"; }
	build_kt_tests
}

# tests/kt: the C programs built static against the series' uAPI headers,
# the scripts as they are.
build_kt_tests() {
	local f
	rm -rf "$KT_TESTS"
	mkdir -p "$KT_TESTS"
	for f in "$TOP"/tests/kt/*; do
		case $f in
		*.c) gcc -O2 -Wall -Werror -static -isystem "$BUILD/hdr/usr/include" \
			-o "$KT_TESTS/$(basename "$f" .c)" "$f" ;;
		*) cp "$f" "$KT_TESTS/" ;;
		esac
	done
}

# kernel_dir FLAVOUR: the build directory of the kernel to test, where its
# .config and modules are (for --kernel, the one its bzImage is in, if it is).
kernel_dir() {
	if [ -z "$OPT_KERNEL" ]; then
		outdir "$1"
	elif [[ $OPT_KERNEL == */arch/x86/boot/bzImage ]]; then
		echo "${OPT_KERNEL%/arch/x86/boot/bzImage}"
	fi
}

# goals_dropped FLAVOUR: whether the benchmarks' goals are dropped for it.
# A benchmark's -g enforces its goals, ratios of instruction counts set on
# the default kernel: ./kt bench keeps it only there, under icount, and
# drops it under --wall (TCG spreads the figures by 20-50%, more than the
# goals' margins) and on the debug kernel (KASAN and lockdep weigh on every
# path differently).
goals_dropped() {
	[ "$OPT_BENCH" = 1 ] && { [ "$OPT_ICOUNT" = 0 ] || [ "$1" != default ]; }
}

# run_list FLAVOUR KDIR: write the list that FLAVOUR's VM runs, and print
# its path: $LIST, without the goals where they are dropped, and without
# the tests that need what KDIR's kernel does not have.  A line
# "# needs: CONFIG_X=v" just above a test (kt/module_lifecycle needs
# CONFIG_KVM=m; guest_memfd_alloc_fail_test, the debug flavour's fault
# injection) drops it, saying so, from the list of a kernel whose .config
# lacks that line, or whose .config is unknown (--kernel outside its
# build directory).
run_list() {
	local out=$BUILD/run-$1.list goals='' line need='' word why
	if goals_dropped "$1"; then goals='/^[[:space:]]*#/! s/[[:space:]]-g([[:space:]]|$)/\1/g'; fi
	while IFS= read -r line; do
		case $line in
		"# needs: "*) need=${line#"# needs: "} ;;
		""|"#"*) ;;
		*)
			if [ -n "$need" ] && ! grep -qsx "$need" "${2:-/nonexistent}/.config"; then
				read -r _ word _ <<<"$line"
				why="this kernel has not"
				[ -n "$2" ] || why="this kernel's build directory, and so its .config, is unknown (--kernel outside one)"
				say "$1: $word left out: it needs $need; $why" >&2
				line="# left out (needs $need): $line"
			fi
			need='' ;;
		esac
		printf '%s\n' "$line"
	done <"$LIST" | sed -E -e "$goals" >"$out"
	echo "$out"
}

# initramfs FLAVOUR: the initramfs of FLAVOUR's VM.
initramfs() { echo "$BUILD/initramfs-$1.cpio"; }

# make_initramfs FLAVOUR LISTFILE KDIR: busybox, /init, the listed tests
# and kt's, and the KVM modules if KDIR's kernel has them, packed by the
# tree's own gen_init_cpio (it makes /dev/console without needing root);
# the VM runs the tests as LISTFILE says.
make_initramfs() {
	local flavour=$1 runs=$2 kdir=$3 root=$BUILD/initramfs list=$BUILD/initramfs.files t m mods=""
	gcc -O2 -o "$BUILD/gen_init_cpio" "$TREE/usr/gen_init_cpio.c"
	rm -rf "$root"
	mkdir -p "$root"
	{
		printf 'dir /%s 0755 0 0\n' dev proc sys tmp bin kvm kvm/x86_64 kvm/kt lib lib/modules
		echo "nod /dev/console 0600 0 0 c 5 1"
		echo "file /init $TOP/tests/vm-init 0755 0 0"
		echo "file /bin/busybox /bin/busybox 0755 0 0"
		echo "file /kvm/tests.list $runs 0644 0 0"
		for t in $(list_selftests); do
			mkdir -p "$(dirname "$root/$t")"
			strip --strip-debug -o "$root/$t" "$SELFTESTS/$t"
			echo "file /kvm/$t $root/$t 0755 0 0"
		done
		for t in "$KT_TESTS"/*; do echo "file /kvm/kt/${t##*/} $t 0755 0 0"; done
		# Every module the kernel has (kvm's, and irqbypass.ko, which
		# kvm.ko needs): vm-init loads them (tests/kt/load_kvm).
		if [ -n "$kdir" ] && modular "$kdir"; then
			while read -r m; do
				m=${m%.ko}.ko
				strip --strip-debug -o "$root/${m##*/}" "$kdir/$m"
				echo "file /lib/modules/${m##*/} $root/${m##*/} 0644 0 0"
				mods+=" ${m##*/}"
			done <"$kdir/modules.order"
			mods=", modules:$mods"
		fi
	} >"$list"
	"$BUILD/gen_init_cpio" "$list" >"$(initramfs "$flavour")"
	say "initramfs: $(initramfs "$flavour") ($(du -m "$(initramfs "$flavour")" | cut -f1) MiB, $(list_tests | wc -l) tests$mods)"
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
		--initrd "$(initramfs "$flavour")" --list "$list" \
		--logdir "$BUILD/logs/$flavour" --flavour "$flavour" "${leak[@]}" "${OPT_VERBOSE[@]}" \
		--timeout-scale "$(timeout_scale "$flavour")" "${mode[@]}" || true
}

summary_field() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"
}

cmd_test() {
	local f rc=0 passed=0 failed=0 skipped=0 s list kdir
	parse_opts "$@"
	need "$PKGS_TEST"
	mkdir -p "$BUILD"
	python3 "$TOP/tests/test_vmtest.py" >"$BUILD/harness-selftest.log" 2>&1 ||
		{ cat "$BUILD/harness-selftest.log"; die "the harness's own self-test failed"; }
	if [ -n "$OPT_KERNEL" ]; then
		need "$PKGS_BASE" "$PKGS_BUILD"
		[ -e "$TREE/.git" ] || die "no tree at $TREE for the selftests (./kt tree)"
		say "kernel: $OPT_KERNEL (not built); selftests from $TREE as it is"
	else
		prepare_build
	fi
	phase selftests build_selftests
	for f in $OPT_FLAVOURS; do
		[ -n "$OPT_KERNEL" ] || build_flavour "$f"
		kdir=$(kernel_dir "$f")
		list=$(run_list "$f" "$kdir")
		if goals_dropped "$f"; then
			say "$f: the benchmarks' goals (-g) are not enforced: only under icount on the default kernel"
		fi
		phase "initramfs ($f)" make_initramfs "$f" "$list" "$kdir"
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

# The race soak, x86_64/guest_memfd_stress_test, alone and longer than the
# suite's minute: --minutes N (default 10), --seed S to repeat a run's
# choices (the test prints its seed).  Its timeout is its time plus two
# minutes for setup and teardown, scaled by the flavour's as any list's.
# The other options are test's.
cmd_soak() {
	local args=() minutes=10 seed='' secs
	while [ $# -gt 0 ]; do
		case $1 in
		--minutes=*) minutes=${1#*=} ;;
		--minutes) shift; minutes=${1:-} ;;
		--seed=*) seed=${1#*=} ;;
		--seed) shift; seed=${1:-} ;;
		--list | --list=*) die "soak runs its own list" ;;
		*) args+=("$1") ;;
		esac
		shift
	done
	[[ $minutes =~ ^[1-9][0-9]*$ ]] || die "--minutes: a whole number, at least 1"
	[ -z "$seed" ] || [[ $seed =~ ^[0-9]+$ ]] || die "--seed: a number"
	secs=$((minutes * 60))
	mkdir -p "$BUILD"
	LIST=$BUILD/soak.list
	printf '%d! x86_64/guest_memfd_stress_test -d %d -w 90%s\n' \
		$((secs + 120)) "$secs" "${seed:+ -s $seed}" >"$LIST"
	cmd_test --verbose "${args[@]}"
}
