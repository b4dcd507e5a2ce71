# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# kt, the builds: the flavours' config fragments, configure and
# check_config, the kernel build, and the options that build, test and
# bench share (parse_opts).  Sourced by ./kt.

# --- kernel config and build -------------------------------------------

# The fragments of a flavour, in the order they are merged: a later one
# overrides an earlier one's setting of an option.  The default flavour has
# KVM as modules, as distributions build it; the debug one has it built in,
# so that both ways are tested.
fragments() {
	local f
	for f in base kvm selftests; do echo "$TOP/configs/$f.config"; done
	case $1 in
	default) echo "$TOP/configs/modules.config" ;;
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

# Every option the fragments ask for must be in the final .config, as the
# last fragment that sets it asks.  With KT_KNOWN_ONLY=TREE (bisect),
# options that TREE's Kconfig does not define yet are skipped: a fragment
# may ask for what a later patch adds.
check_config() {
	local cfg=$1 line opt bad="" known=""
	local -A want=()
	shift
	if [ -n "${KT_KNOWN_ONLY:-}" ]; then
		known=$(grep -rhoE --include='Kconfig*' '^(menu)?config [A-Za-z0-9_]+' "$KT_KNOWN_ONLY" |
			awk '{ print "CONFIG_" $2 }' | sort -u)
	fi
	while IFS= read -r line; do
		case $line in
		"# CONFIG_"*" is not set") opt=${line#\# } ;;
		CONFIG_*=*) opt=$line ;;
		*) continue ;;
		esac
		want[${opt%%[= ]*}]=$line
	done < <(cat "$@")
	for opt in "${!want[@]}"; do
		line=${want[$opt]}
		if [ -n "$known" ] && ! grep -qxF "$opt" <<<"$known"; then
			continue
		fi
		case $line in
		"# "*)
			grep -q "^$opt=" "$cfg" && bad+="  $line (got: $(grep "^$opt=" "$cfg"))"$'\n'
			;;
		*)
			grep -qxF "$line" "$cfg" ||
				bad+="  $line (got: $(grep -e "^$opt=" -e "# $opt is" "$cfg" || echo unset))"$'\n'
			;;
		esac
	done
	[ -z "$bad" ] || die "options that did not take in $cfg:"$'\n'"$bad"
}

# configure FLAVOUR [SRC OUT]: .config for FLAVOUR from the fragments.
configure() {
	local flavour=$1 src=${2:-$TREE} out=${3:-$(outdir "$1")} frags
	mapfile -t frags < <(fragments "$flavour")
	config_save "$out"
	(cd "$src" && scripts/kconfig/merge_config.sh -n -O "$out" "${frags[@]}") >"$out/merge_config.log" 2>&1 ||
		{ cat "$out/merge_config.log"; die "merge_config.sh failed"; }
	make -s -C "$src" O="$out" olddefconfig >/dev/null
	check_config "$out/.config" "${frags[@]}"
	config_keep_if_same "$out"
}

# config_save OUT, then config_keep_if_same OUT once OUT/.config is made
# anew: keep the old file (and its mtime) when nothing changed, so that
# an unchanged config does not make kbuild re-sync.
config_save() {
	mkdir -p "$1"
	if [ -f "$1/.config" ]; then cp -p "$1/.config" "$1/.config.prev"; fi
}
config_keep_if_same() {
	if [ -f "$1/.config.prev" ] && cmp -s "$1/.config" "$1/.config.prev"; then
		mv "$1/.config.prev" "$1/.config"
	else
		rm -f "$1/.config.prev"
	fi
}

cc_var() {
	command -v ccache >/dev/null && echo "CC=ccache gcc" || echo "CC=gcc"
}

# modular OUT: whether the kernel configured in OUT has KVM as modules.
modular() { grep -qs '^CONFIG_KVM=m' "$1/.config"; }

# What to build in OUT: the bzImage, and the modules if it has any
# (modpost then fails on a symbol a module uses that is not exported).
kernel_targets() {
	echo bzImage
	if modular "$1"; then echo modules; fi
}

# make_kernel SRC OUT: build the kernel configured in OUT from SRC, and
# its modules; fail on an error or on a warning, of the compiler, objtool
# or modpost ("WARNING: modpost: ..."), which would otherwise only scroll
# by.  The output is in OUT/build.log.
make_kernel() {
	local src=$1 out=$2 rc=0
	# shellcheck disable=SC2046 # one word a target
	make -s -C "$src" O="$out" -j"$JOBS" "$(cc_var)" $(kernel_targets "$out") >"$out/build.log" 2>&1 || rc=$?
	cat "$out/build.log"
	[ "$rc" = 0 ] || return "$rc"
	if grep -qiE 'warning:' "$out/build.log"; then
		forget_warned "$out"
		say "the build warns (see above; $out/build.log): a warning fails it"
		return 1
	fi
}

# forget_warned OUT: delete what made the warnings of OUT/build.log, so
# that the next build makes it again, and warns again, rather than pass
# on what it finds up to date: the object of each C or assembly file a
# compiler warning names (kbuild's .cmd files say which), the object an
# objtool warning names, and modpost's output.  (A warning in a header
# names the header, not a source: it stays quiet in a rebuild that does
# not recompile a file including it.)
forget_warned() {
	local out=$1 src cmd obj
	grep -oE '^[^ :]+\.[cS]:[0-9]+:[0-9]+: warning:' "$out/build.log" | cut -d: -f1 | sort -u |
		while read -r src; do
			grep -rlF --include='.*.cmd' ":= $src" "$out" || true
		done | while read -r cmd; do
			obj=${cmd##*/.}
			rm -f "${cmd%/*}/${obj%.cmd}"
		done
	sed -nE 's/^([^ :]+\.o): warning: objtool:.*/\1/p' "$out/build.log" |
		while read -r obj; do rm -f "$out/$obj"; done
	if grep -q 'WARNING: modpost' "$out/build.log"; then rm -f "$out/Module.symvers"; fi
}

kbuild() {
	local flavour=$1 out
	out=$(outdir "$flavour")
	make_kernel "$TREE" "$out" || die "kernel build failed ($flavour)"
	say "kernel ($flavour): $out/arch/x86/boot/bzImage$(modular "$out" && echo ", KVM as modules")"
}

build_flavour() {
	local flavour=$1
	phase "config ($flavour)" configure "$flavour"
	phase "build ($flavour)" kbuild "$flavour"
}

# Common option parsing: --flavour NAME|all, --as-is, --kernel PATH.
# shellcheck disable=SC2034 # OPT_VERBOSE is read in vm.sh (run_suite)
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
	need "$PKGS_BASE" "$PKGS_BUILD"
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
