# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# kt, the checks of the series: lint (checkpatch --strict over every
# patch, sparse on the files it touches) and bisect (every step builds).
# Sourced by ./kt.

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
