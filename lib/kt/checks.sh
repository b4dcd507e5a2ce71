# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# kt, the checks of the series: lint (checkpatch --strict over every
# patch, sparse on the files it touches), bisect (every step builds) and
# quilt-check (quilt applies patches/ as git does).  Sourced by ./kt.

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
			if [ -f "$EXCEPTIONS" ] && grep -qE "^${p}[[:space:]]+${type}[[:space:]]+[^[:space:]]" "$EXCEPTIONS"; then
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
	need "$PKGS_BASE" "$PKGS_BUILD"
	if ! [ -e "$TREE/.git" ]; then phase unpack make_tree; fi
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
	need "$PKGS_BASE" "$PKGS_BUILD"
	if ! [ -e "$TREE/.git" ]; then phase unpack make_tree; fi
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
		make_kernel "$wt" "$out" || die "[$n/$total] $p: kernel build failed"
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

# --- quilt -------------------------------------------------------------
#
# Debian's packaging, and anyone with quilt, applies patches/series with
# quilt (GNU patch), not with git am.  quilt-check unpacks the pinned
# tarball into a scratch directory, runs quilt push -a --fuzz=0 there, and
# fails on anything patch says beyond "patching file": fuzz (which
# --fuzz=0 turns into a failed hunk), an offset, or any other warning.
#
# Offsets fail too.  kt export writes each patch against the tree that the
# patches before it make of this very base, so every hunk lands exactly
# where it says; one that lands elsewhere means patches/ is not what kt
# export writes (a hand edit, a reordered series, a base moved without
# ./kt rebase), and such a hunk is the one that turns into fuzz or a
# failure at the next base.  ./kt tree --reset && ./kt export fixes it.
#
# Then the quilt tree, every file of it, must equal the tree git makes of
# the same series: the base commit plus git apply of each patch, in a
# scratch index (what kt tree and kt build use, whatever build/linux holds
# now); .pc/, quilt's own, is left out.  The scratch tree (scratch_dir) is
# removed at the end, pass or fail, unless --keep.

QUILT_DIR=

# The tree id of the base plus patches/, as git applies them: git apply
# of every patch at once (in order, each on what the ones before it made:
# the tree git am makes, in a second), or one at a time to name the one
# that fails.
series_tree() {
	local idx p patches=()
	idx=$BUILD/quilt-git.index
	for p in $(series); do patches+=("$TOP/patches/$p"); done
	rm -f "$idx"
	GIT_INDEX_FILE=$idx git_t read-tree base
	if ! GIT_INDEX_FILE=$idx git_t apply --cached "${patches[@]}" 2>/dev/null; then
		GIT_INDEX_FILE=$idx git_t read-tree base
		for p in "${patches[@]}"; do
			GIT_INDEX_FILE=$idx git_t apply --cached "$p" ||
				die "patches/${p##*/} does not apply with git apply"
		done
	fi
	GIT_INDEX_FILE=$idx git_t write-tree
	rm -f "$idx"
}

quilt_unpack() {
	tar -xf "$(tarball)" -C "$QUILT_DIR" --strip-components=1
}

# quilt push -a --fuzz=0, with no quiltrc and none of the user's settings.
# Any line of its output but the expected ones fails the check.
quilt_push() {
	local log=$BUILD/quilt.log bad
	if ! (cd "$QUILT_DIR" && env -u QUILT_PUSH_ARGS -u QUILT_PATCH_OPTS -u QUILTRC \
		QUILT_PATCHES="$TOP/patches" QUILT_SERIES=series QUILT_PC=.pc \
		quilt --quiltrc=/dev/null push -a --fuzz=0) >"$log" 2>&1; then
		grep -v -e '^patching file ' -e '^Applying patch ' -e '^$' "$log" | indent '  ' | tail -n 20
		die "quilt push -a --fuzz=0 failed at patches/$(sed -n 's|^Applying patch ||p' "$log" | tail -n 1 | sed 's|.*/||') (log: $log; --keep keeps quilt's tree)"
	fi
	bad=$(grep -v -e '^patching file ' -e '^Applying patch ' -e '^Now at patch ' -e '^$' "$log" || true)
	if [ -n "$bad" ]; then
		awk '/^Applying patch /{ p = $3; sub(".*/", "", p); next } !/^(patching file |Now at patch |$)/{ print "  " p ": " $0 }' "$log"
		die "quilt applied the series, but not cleanly (offsets or other warnings above): ./kt tree --reset && ./kt export writes patches/ anew (log: $log)"
	fi
	[ "$(grep -c '^Applying patch ' "$log")" = "$(series | wc -l)" ] ||
		die "quilt applied $(grep -c '^Applying patch ' "$log") patches, patches/series has $(series | wc -l) (log: $log)"
	say "quilt push -a --fuzz=0: $(series | wc -l) patches, no fuzz, no offset"
}

# Every file of the quilt tree against the tree git makes: an index of
# git's tree, refreshed against the quilt tree (hashing, writing nothing).
quilt_compare() {
	local want idx diffs extra
	want=$(series_tree)
	idx=$BUILD/quilt-cmp.index
	rm -f "$idx"
	GIT_INDEX_FILE=$idx git_t read-tree "$want"
	diffs=$(cd "$QUILT_DIR" && export GIT_DIR="$TREE/.git" GIT_WORK_TREE="$QUILT_DIR" GIT_INDEX_FILE="$idx" &&
		{ git update-index -q --refresh >/dev/null || true; } && git diff-files --name-status)
	extra=$(cd "$QUILT_DIR" && GIT_DIR="$TREE/.git" GIT_WORK_TREE="$QUILT_DIR" GIT_INDEX_FILE="$idx" \
		git ls-files --others --exclude=/.pc/)
	rm -f "$idx"
	if [ -n "$diffs$extra" ]; then
		[ -z "$diffs" ] || indent '  ' <<<"$diffs" | head -n 20
		[ -z "$extra" ] || indent "  only in quilt's tree: " <<<"$extra" | head -n 20
		die "quilt's tree and git's ($want) differ (M: content or mode, D: missing in quilt's tree; --keep keeps quilt's tree)"
	fi
	say "quilt's tree equals git's: $(git_t ls-tree -r "$want" | wc -l) files, tree $want"
}

cmd_quilt_check() {
	local keep=0
	while [ $# -gt 0 ]; do
		case $1 in
		--keep) keep=1 ;;
		*) die "unknown option '$1' (./kt help)" ;;
		esac
		shift
	done
	need "$PKGS_BASE" quilt
	if ! [ -e "$TREE/.git" ]; then phase unpack make_tree; fi
	[ "$(git_t log -1 --format=%s base)" = "$(base_subject "$BASE_VERSION")" ] ||
		die "$TREE's base is $(git_t log -1 --format=%s base), not $BASE_VERSION as base.conf says: ./kt tree --reset"
	cmd_fetch
	QUILT_DIR=$(scratch_dir quilt)
	if [ $keep = 1 ]; then
		say "quilt's tree: $QUILT_DIR (--keep: remove it when done)"
	else
		remove_on_exit "$QUILT_DIR"
	fi
	phase "quilt: unpack" quilt_unpack
	phase "quilt push" quilt_push
	phase "quilt: compare" quilt_compare
	timings
}
