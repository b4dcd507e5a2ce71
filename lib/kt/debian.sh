# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# kt, Debian's own configuration: the pinned linux-config package
# (fetch_config, which rebase also uses), and `build --config debian`: the
# patched tree with Debian's amd64 config, built to installable packages
# (make bindeb-pkg) or, for CI, only the objects of the files the series
# changes (--series-objects), failing on any warning.  Sourced by ./kt.

# --- the pinned config -------------------------------------------------

# Debian's standard amd64 kernel (linux-image-amd64): featureset "none",
# flavour "amd64" (the package also has cloud-amd64's and rt's).
DEBIAN_CONFIG_MEMBER=./usr/src/$CONFIG_PACKAGE/config.amd64_none_amd64.xz

debian_config() { echo "$DL/$CONFIG_PACKAGE-${1:-$BASE_VERSION}.config.amd64"; }

# A copy of the pinned config, in the repository: apt's index keeps only
# the newest linux-config-6.1 (where it keeps several linux-source-6.1), so
# once Debian publishes the next revision, the pinned one can no longer be
# downloaded, and CI, which starts from nothing, would fail until a
# rebase.  base.conf's checksum of the config holds the copy to it; rebase
# writes the copy with base.conf.
VENDORED_CONFIG=$TOP/configs/debian/${DEBIAN_CONFIG_MEMBER##*/}

# fetch_config VERSION DEB_SHA256 FILE_SHA256: fetch_deb $CONFIG_PACKAGE of
# VERSION (the base's version: both come from Debian's linux source
# package), check the amd64 config in it and leave it, decompressed, in
# $DL.  With empty checksums (rebase) they are left in FETCHED_DEB_SHA256
# and FETCHED_CONFIG_SHA256 for base.conf.
fetch_config() {
	local version=$1 want_deb=$2 want_cfg=$3 cfg
	cfg=$(debian_config "$version")
	if [ -n "$want_cfg" ] && [ -f "$cfg" ] && [ "$(sha256_of "$cfg")" = "$want_cfg" ]; then
		return 0
	fi
	if [ -n "$want_cfg" ] && [ -f "$VENDORED_CONFIG" ]; then
		mkdir -p "$DL"
		xz -dc "$VENDORED_CONFIG" >"$cfg.part"
		if [ "$(sha256_of "$cfg.part")" = "$want_cfg" ]; then
			mv "$cfg.part" "$cfg"
			say "config: $cfg (from ${VENDORED_CONFIG#"$TOP"/}, sha256 ok)"
			return 0
		fi
		rm -f "$cfg.part"
		say "${VENDORED_CONFIG#"$TOP"/} is not the config base.conf pins: downloading it"
	fi
	fetch_deb "$CONFIG_PACKAGE" amd64 "$version" "$want_deb"
	extract_verified "$DEBIAN_CONFIG_MEMBER" "xz -d" "$cfg" "$want_cfg"
	# shellcheck disable=SC2034 # read by rebase_start (tree.sh)
	FETCHED_CONFIG_SHA256=$EXTRACTED_SHA256
	say "config: $cfg (sha256 ok)"
}

# --- the configuration -------------------------------------------------
#
# Debian's config as it is, through olddefconfig: an option the series
# adds takes its default (KVM_SW_PROTECTED_VM is off: upstream has it for
# development), and nothing else changes.  check_debian_config holds that.
#
# Nothing in it needs changing for a build outside Debian's packaging:
# linux-config leaves out, by design ("without references to Debian's
# signing certificates", its description says), the options that tie a
# config to Debian's own build, and they take Kconfig's defaults here:
#   SYSTEM_TRUSTED_KEYS ""  no certificates built in besides the build's own
#   MODULE_SIG_KEY "certs/signing_key.pem", MODULE_SIG_ALL y
#                           the build makes a key (in its certs/) and signs
#                           every module with it, as Debian's own build has
#                           done with a throwaway key since 6.1.148-1 (its
#                           changelog); unsigned modules would taint the
#                           kernel (MODULE_SIG) when they load
#   BUILD_SALT ""           the salt of the build ids, which Debian's own
#                           build sets to a value of its own
DEBIAN_LEFT_OUT="SYSTEM_TRUSTED_KEYS MODULE_SIG_KEY MODULE_SIG_ALL BUILD_SALT"
# Versions Kconfig reads from the toolchain here.  Debian builds with gcc-12
# by that name, kt with gcc (the same compiler on Debian 12), so
# CC_VERSION_TEXT differs.  An option that a different tool turns on or
# off is not here: it fails the check.
DEBIAN_TOOLCHAIN="CC_VERSION_TEXT GCC_VERSION AS_VERSION LD_VERSION PAHOLE_VERSION"

debian_out() { echo "$BUILD/out/debian"; }

# in_words WORD LIST: is WORD one of LIST's (space-separated) words?
in_words() { case " $2 " in *" $1 "*) return 0 ;; esac; return 1; }

# The options the series' Kconfig lines define or select (in the tree as
# it stands, for --as-is).
series_options() {
	git_t diff base -- '*Kconfig*' |
		sed -nE 's/^\+[[:space:]]*(menuconfig|config|select|imply)[[:space:]]+([A-Za-z0-9_]+).*/\2/p' | sort -u
}

# check_debian_config DEBIAN OURS: OURS is DEBIAN but for the series'
# options, the ones linux-config leaves out and the toolchain's versions;
# print every difference, and fail on any other (an option Kconfig turned
# off for want of a tool Debian's build had: dwarves' pahole for BTF, say).
check_debian_config() {
	local line sign sym why series bad=0
	series=$(series_options | tr '\n' ' ')
	say "the config against Debian's (${DEBIAN_CONFIG_MEMBER##*/}): + ours only, - Debian's only"
	while IFS= read -r line; do
		sign=${line:0:1}
		sym=${line:1}
		sym=${sym%% *}
		if [ "$sign" != - ] && in_words "$sym" "$series"; then
			why="the series'"
		elif [ "$sign" = + ] && in_words "$sym" "$DEBIAN_LEFT_OUT"; then
			why="not in $CONFIG_PACKAGE"
		elif [ "$sign" = " " ] && in_words "$sym" "$DEBIAN_TOOLCHAIN"; then
			why="the toolchain here"
		else
			why=DIFFERS
			bad=1
		fi
		printf 'kt:   %-25s %s\n' "$why:" "${line# }"
	done < <(python3 "$TREE/scripts/diffconfig" "$1" "$2")
	[ $bad = 0 ] || die "$2 is not Debian's config plus the series: what DIFFERS comes from this machine (a tool missing?), not from the series"
}

# configure_debian OUT: OUT/.config from Debian's config.
configure_debian() {
	local out=$1
	config_save "$out"
	cp "$(debian_config)" "$out/.config"
	make -s -C "$TREE" O="$out" olddefconfig >/dev/null
	check_debian_config "$(debian_config)" "$out/.config"
	config_keep_if_same "$out"
}

# --- the builds --------------------------------------------------------

# make bindeb-pkg: the packages go where dpkg-buildpackage puts them, the
# parent of the object directory (build/out/).
debian_packages() {
	local out=$1
	say "make bindeb-pkg in $out: all of Debian's kernel: about 10 CPU-hours (5 h 20 min on 2 idle cores) and 25 GB of disk"
	make -s -C "$TREE" O="$out" -j"$JOBS" "$(cc_var)" bindeb-pkg
	say "packages, in ${out%/*}/:"
	sed -n 's/^\([^ ]*\.deb\) .*/\1/p' "$out/debian/files" | indent 'kt:   '
}

debian_prepare() { make -s -C "$TREE" O="$1" -j"$JOBS" "$(cc_var)" prepare; }

# The C files the series changes, outside tools/ (in the tree as it
# stands, for --as-is).
series_c_files() { git_t diff --name-only --diff-filter=d base -- '*.c' ':!tools/'; }

# Compile the objects of every C file the series changes, anew (an
# up-to-date object prints no warning), and fail on any warning of the
# compiler or objtool.  KVM's objects are all compiled: arch/x86/kvm/'s
# Makefile builds virt/kvm's files too (into kvm.ko; their objects land in
# virt/kvm/), and links kvm.o, kvm-amd.o and kvm-intel.o; every one of them
# includes the headers the series changes.
series_objects() {
	local out=$1 log=$1/series-objects.log f targets=() stale=() missing=""
	for f in $(series_c_files); do
		case $f in
		virt/kvm/* | arch/x86/kvm/*)
			targets+=(arch/x86/kvm/)
			stale+=("$out/arch/x86/kvm" "$out/virt/kvm")
			;;
		*)
			targets+=("${f%.c}.o")
			stale+=("$out/${f%.c}.o")
			;;
		esac
	done
	[ ${#targets[@]} -gt 0 ] || die "the series changes no C file"
	mapfile -t targets < <(printf '%s\n' "${targets[@]}" | sort -u)
	for f in $(printf '%s\n' "${stale[@]}" | sort -u); do
		[ ! -e "$f" ] || find "$f" -name '*.o' -delete
	done
	say "compiling, anew: ${targets[*]}"
	if ! make -s -C "$TREE" O="$out" -j"$JOBS" "$(cc_var)" "${targets[@]}" >"$log" 2>&1; then
		grep -E 'error:|warning:|\*\*\*' "$log" | head -n 40 | indent '  '
		die "the series' objects do not build with Debian's config (log: $log)"
	fi
	if grep -q 'warning:' "$log"; then
		grep 'warning:' "$log" | head -n 40 | indent '  '
		die "$(grep -c 'warning:' "$log") warning(s) in the series' objects with Debian's config (log: $log)"
	fi
	for f in $(series_c_files); do
		[ -f "$out/${f%.c}.o" ] || missing+=" ${f%.c}.o"
	done
	[ -z "$missing" ] || die "not compiled with Debian's config:$missing"
	say "${targets[*]}: warning-free with Debian's config"
}

# --- build --config debian ---------------------------------------------

# Does a build command line ask for a config (rather than flavours)?
wants_config() {
	local a
	for a in "$@"; do
		case $a in --config | --config=* | --series-objects) return 0 ;; esac
	done
	return 1
}

# shellcheck disable=SC2034 # OPT_AS_IS is read by prepare_build (build.sh)
cmd_build_config() {
	local config="" objects=0 out
	OPT_AS_IS=0
	while [ $# -gt 0 ]; do
		case $1 in
		--config=*) config=${1#*=} ;;
		--config) shift; config=${1:-} ;;
		--series-objects) objects=1 ;;
		--as-is) OPT_AS_IS=1 ;;
		*) die "unknown option '$1' with --config (./kt help)" ;;
		esac
		shift
	done
	[ -n "$config" ] || die "--series-objects goes with --config debian (./kt help)"
	[ "$config" = debian ] || die "unknown config '$config': there is debian (./kt help)"
	out=$(debian_out)
	prepare_build
	need "$PKGS_DEBIAN"
	[ $objects = 1 ] || need "$PKGS_DEB"
	phase "fetch config" fetch_config "$BASE_VERSION" "$CONFIG_DEB_SHA256" "$CONFIG_FILE_SHA256"
	phase "config (debian)" configure_debian "$out"
	if [ $objects = 1 ]; then
		phase "prepare (debian)" debian_prepare "$out"
		phase "series objects (debian)" series_objects "$out"
	else
		phase "bindeb-pkg (debian)" debian_packages "$out"
	fi
	timings
}
