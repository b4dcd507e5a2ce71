# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# kt, what every command uses: messages, phase timing, and the Debian
# packages a command needs.  Sourced by ./kt first, after its settings.

say() { printf 'kt: %s\n' "$*"; }
die() { printf 'kt: error: %s\n' "$*" >&2; exit 1; }
# indent PREFIX: each line of stdin, after PREFIX.
indent() { sed "s/^/$1/"; }

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

# Each argument is a list of packages, split at spaces ($PKGS_BUILD).
missing_pkgs() {
	local p
	# shellcheck disable=SC2048 # the lists are split on purpose
	for p in $*; do
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

# need PKG...: make sure the Debian packages are installed (an argument
# may be a list: "$PKGS_BUILD").
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
