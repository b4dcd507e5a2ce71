# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# kt, the base and the tree: fetch (the pinned linux-source package),
# tree (build/linux: the base, then patches/ applied with git am), export
# (patches/ from the tree's commits), rebase (the series onto another
# revision of the package), and the series helpers the other commands use
# (series, git_t, ensure_tree, fetch_deb).  Sourced by ./kt.

# --- the pinned base ---------------------------------------------------

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

tarball() { echo "$DL/$BASE_PACKAGE-${1:-$BASE_VERSION}.tar.xz"; }

# The SHA256 of the .deb that apt's package index (which apt checked
# against the archive's signed Release file) lists for SPEC
# (PACKAGE=VERSION or PACKAGE:ARCH=VERSION), or nothing.
apt_deb_sha256() {
	apt-cache show "$1" 2>/dev/null | sed -n 's/^SHA256: *//p' | sort -u
}

# fetch_deb PACKAGE ARCH VERSION DEB_SHA256: download PACKAGE=VERSION with
# apt-get into $DL, unless it is there already, check its checksum, and
# leave its path in DEB.  ARCH is the package's (all, or amd64 for one
# built per architecture), and apt is asked for that architecture's.  With
# an empty checksum (a revision base.conf does not pin yet: rebase) the
# .deb must be the one apt's index lists, and its control file must name
# that package, version and architecture; the checksum is left in
# FETCHED_DEB_SHA256 for base.conf.
fetch_deb() {
	local pkg=$1 arch=$2 version=$3 want_deb=$4 spec got tmp field pins="base.conf pins" pinned=1
	spec=$pkg=$version
	[ "$arch" = all ] || spec=$pkg:$arch=$version
	if [ -z "$want_deb" ]; then
		pinned=0
		pins="apt's index lists"
		want_deb=$(apt_deb_sha256 "$spec")
		if [ -z "$want_deb" ]; then
			as_root apt-get update -q >/dev/null 2>&1 || true
			want_deb=$(apt_deb_sha256 "$spec")
		fi
		[ -n "$want_deb" ] || die "apt knows no $spec; it has: $(apt-cache madison "$pkg" 2>/dev/null | awk '{ print $3 }' | paste -sd ' ')"
		[ "$(wc -l <<<"$want_deb")" = 1 ] || die "apt lists $spec with different checksums: $(tr '\n' ' ' <<<"$want_deb")"
	fi
	mkdir -p "$DL"
	DEB="$DL/${pkg}_${version}_$arch.deb"
	if ! [ -f "$DEB" ] || [ "$(sha256_of "$DEB")" != "$want_deb" ]; then
		tmp=$(mktemp -d "$DL/apt.XXXXXX")
		say "downloading $spec with apt-get"
		if ! (cd "$tmp" && apt-get download -q "$spec") >/dev/null 2>&1; then
			as_root apt-get update -q >/dev/null 2>&1 || true
			(cd "$tmp" && apt-get download -q "$spec" >/dev/null) ||
				{ rm -rf "$tmp"; die "apt cannot get $spec ($pins it); is Debian 12's security archive in sources.list?"; }
		fi
		mv "$tmp"/*.deb "$DEB.part" && rm -rf "$tmp"
		got=$(sha256_of "$DEB.part")
		if [ "$got" != "$want_deb" ]; then
			rm -f "$DEB.part"
			die "checksum mismatch for $pkg $version .deb: got $got, $pins $want_deb"
		fi
		mv "$DEB.part" "$DEB"
	fi
	if [ $pinned = 0 ]; then
		field=$(dpkg-deb -f "$DEB" Package Version Architecture | tr '\n' ' ')
		[ "$field" = "Package: $pkg Version: $version Architecture: $arch " ] ||
			die "$DEB is not $pkg $version for $arch: its control file says $field"
	fi
	FETCHED_DEB_SHA256=$want_deb
}

# fetch_pkg VERSION DEB_SHA256 TARBALL_SHA256: fetch_deb $BASE_PACKAGE=VERSION,
# check the kernel tarball inside it and leave it in $DL.  Nothing is
# unpacked until both checksums match.  With empty checksums (rebase) both
# are left in FETCHED_DEB_SHA256 and FETCHED_TARBALL_SHA256 for base.conf.
fetch_pkg() {
	local version=$1 want_deb=$2 want_tb=$3 tb
	tb=$(tarball "$version")
	if [ -n "$want_tb" ] && [ -f "$tb" ] && [ "$(sha256_of "$tb")" = "$want_tb" ]; then
		return 0
	fi
	fetch_deb "$BASE_PACKAGE" all "$version" "$want_deb"
	extract_verified "./usr/src/$BASE_PACKAGE.tar.xz" cat "$tb" "$want_tb"
	FETCHED_TARBALL_SHA256=$EXTRACTED_SHA256
	say "base: $tb (sha256 ok)"
}

# extract_verified MEMBER FILTER OUT WANT: extract MEMBER of $DEB through
# the command FILTER into OUT, which appears only if its sha256 is WANT (or
# WANT is empty: rebase).  The checksum is left in EXTRACTED_SHA256.
extract_verified() {
	local member=$1 filter=$2 out=$3 want=$4 got
	dpkg-deb --fsys-tarfile "$DEB" | tar -xO "$member" | $filter >"$out.part"
	got=$(sha256_of "$out.part")
	if [ -n "$want" ] && [ "$got" != "$want" ]; then
		rm -f "$out.part"
		die "checksum mismatch for ${member#./} in $DEB: got $got, base.conf pins $want"
	fi
	mv "$out.part" "$out"
	EXTRACTED_SHA256=$got
}

# Download the pinned package and check it against base.conf.
cmd_fetch() {
	need "$PKGS_BASE"
	fetch_pkg "$BASE_VERSION" "$BASE_DEB_SHA256" "$BASE_TARBALL_SHA256"
}

# scratch_dir NAME: a new directory for an unpacked tree that is thrown
# away (quilt-check's, rebase's new base), in RAM (/dev/shm) when it has
# room.  On disk, the rm -rf of such a tree (1.5 GB, 78,000 files; the disk
# here is mounted with discard) took 200 s while kernels were building,
# longer than all the rest of quilt-check; in /dev/shm, under a second.
scratch_dir() {
	local avail
	avail=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')
	if [ "${avail:-0}" -gt $((4 * 1024 * 1024)) ]; then
		mktemp -d "/dev/shm/kt-$1.XXXXXX"
	else
		mkdir -p "$BUILD"
		mktemp -d "$BUILD/$1.XXXXXX"
	fi
}

# remove_on_exit DIR: remove DIR when kt ends, on an error, Ctrl-C or a
# kill (TERM) too; bash runs no EXIT trap for a signal it has no trap for.
remove_on_exit() {
	# shellcheck disable=SC2064 # DIR is known now
	trap "rm -rf '$1'" EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# --- the kernel git tree and the series --------------------------------

series() { grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$TOP/patches/series" 2>/dev/null || true; }

git_t() { git -C "$TREE" "$@"; }

# An identity for commits kt makes itself when the user has none.
git_ident() {
	git config user.email >/dev/null 2>&1 && return 0
	export GIT_COMMITTER_NAME=kt GIT_COMMITTER_EMAIL=kt@localhost
}

# The base commit: one parentless commit of the tarball, whose author,
# committer and dates are fixed, so one tarball always makes the same commit
# (make_tree and rebase agree on it).
base_subject() { echo "Debian $BASE_PACKAGE $1"; }
base_git() {
	GIT_AUTHOR_NAME="Debian kernel team" GIT_AUTHOR_EMAIL=debian-kernel@lists.debian.org \
	GIT_COMMITTER_NAME=kt GIT_COMMITTER_EMAIL=kt@localhost \
	GIT_AUTHOR_DATE="2000-01-01T00:00:00Z" GIT_COMMITTER_DATE="2000-01-01T00:00:00Z" \
		git "$@"
}

# Make $TREE: the pristine base as one commit tagged "base" (and
# "base-<version>"), then the series applied with git am.  Built in a
# scratch directory, so an interrupted run never leaves a half-made tree
# behind.
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
	base_git -C "$new" commit -q -m "$(base_subject "$BASE_VERSION")"
	git -C "$new" tag base
	git -C "$new" tag "base-$BASE_VERSION"
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
	if ! [ -e "$TREE/.git" ]; then
		make_tree
		return
	fi
	[ "$as_is" = 1 ] && { say "building $TREE as it is (--as-is)"; return 0; }
	rebase_in_progress && die "a rebase of $TREE to $(rebase_state_get REB_VERSION) is in progress: ./kt rebase --continue or --abort"
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
	if [ -e "$TREE/.git" ]; then
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

# Make patches/ the series in DIR: kt's own files there (the patches and
# series) go, checkpatch.exceptions stays unless DIR has one.
replace_patches() {
	rm -f "$TOP"/patches/*.patch "$TOP/patches/series"
	cp "$1"/* "$TOP/patches/"
}

cmd_export() {
	local tmp
	[ -e "$TREE/.git" ] || die "no tree at $TREE (./kt tree)"
	if rebase_in_progress && [ -z "${REBASE_FINISHING:-}" ]; then
		die "a rebase of $TREE to $(rebase_state_get REB_VERSION) is in progress: ./kt rebase --continue or --abort"
	fi
	git_t merge-base --is-ancestor base HEAD || die "HEAD of $TREE does not descend from the base tag"
	[ -z "$(git_t status --porcelain -uno)" ] ||
		die "$TREE has uncommitted changes: commit them first"
	check_untracked
	tmp=$(mktemp -d)
	export_to "$tmp"
	replace_patches "$tmp"
	rm -rf "$tmp"
	say "exported $(series | wc -l) patches to patches/"
	git -C "$TOP" status --short -- patches
}

# --- rebase: the series onto another revision of the package ------------
#
# ./kt rebase VERSION fetches $BASE_PACKAGE=VERSION and $CONFIG_PACKAGE=VERSION
# (checked against apt's index), commits its tarball into $TREE as a new base commit (tagged
# base-VERSION), and applies patches/ onto it one patch at a time with
# git am -3.  The series on the old base stays as branch series/OLD.  On a
# conflict it stops, naming the patch and its files; --continue goes on
# once they are resolved, --abort goes back (from anywhere: after an
# interrupted finish too).  Once every patch is in, the
# base tag moves, base.conf gets the new version and checksums (the base's
# and Debian's config's), and patches/ is exported anew (so each patch
# carries the new base's context).

REBASE_STATE=$TREE/.git/kt-rebase
# What rebase_finish overwrites (base.conf, the kept config, patches/), as
# it was: --abort after an interrupted finish puts it back from here.
REBASE_SAVED=$REBASE_STATE.saved
REBASE_LOG=$BUILD/rebase.log

rebase_in_progress() { [ -f "$REBASE_STATE" ]; }
rebase_state_get() { sed -n "s/^$1=//p" "$REBASE_STATE"; }
rebase_state_set() { sed -i "s|^$1=.*|$1=$2|" "$REBASE_STATE"; }
git_am_in_progress() { [ -d "$(git_t rev-parse --absolute-git-dir)/rebase-apply" ]; }

# Commit the unpacked tarball in SRC into $TREE's repository as a base
# commit (the same commit make_tree would make of it) and print its id.  A
# separate index seeded with the old base, so git stores only what changed.
commit_base_of() {
	local src=$1 version=$2 idx tid
	idx=$(git_t rev-parse --absolute-git-dir)/kt-base-index
	rm -f "$idx"
	GIT_INDEX_FILE=$idx git_t read-tree base
	(cd "$src" && GIT_DIR=$TREE/.git GIT_WORK_TREE=$src GIT_INDEX_FILE=$idx git add -A -f .)
	tid=$(GIT_INDEX_FILE=$idx git_t write-tree)
	rm -f "$idx"
	base_git -C "$TREE" commit-tree -m "$(base_subject "$version")" "$tid"
}

# Unpack VERSION's tarball in a scratch directory and commit it.
new_base() {
	local version=$1 src
	src=$(scratch_dir rebase)
	remove_on_exit "$src"
	say "unpacking $BASE_PACKAGE $version"
	tar -xf "$(tarball "$version")" -C "$src" --strip-components=1
	NEW_BASE=$(commit_base_of "$src" "$version")
	rm -rf "$src"
	trap - EXIT INT TERM
}

# The patch files, in series order, from the Nth (1-based) on.
series_from() { series | tail -n +"$1"; }

# The subject git am gives the commit of patches/FILE.
patch_subject() { git mailinfo /dev/null /dev/null <"$TOP/patches/$1" | sed -n 's/^Subject: //p'; }

# Apply the series from patch N on with git am -3, one patch at a time, so
# each conflict is tied to its patch file.  Stops (dies) at a conflict.
# The state keeps the next patch to apply (REB_NEXT) and the one a
# conflict stopped at (REB_STOPPED), for --continue.
rebase_apply() {
	local n=$1 total p out files what
	total=$(series | wc -l)
	for p in $(series_from "$n"); do
		if out=$(git_t am -3 "$TOP/patches/$p" 2>&1); then
			rebase_state_set REB_NEXT $((n + 1))
			echo "== $p" >>"$REBASE_LOG"
			echo "$out" >>"$REBASE_LOG"
			if grep -q '^No changes -- Patch already applied' <<<"$out"; then
				say "[$n/$total] $p: changes nothing on the new base (already in it), dropped"
			elif grep -q '^Falling back to patching base and 3-way merge' <<<"$out"; then
				say "[$n/$total] $p: applied by 3-way merge"
			fi
		else
			echo "== $p (stopped)" >>"$REBASE_LOG"
			echo "$out" >>"$REBASE_LOG"
			rebase_state_set REB_STOPPED "$n"
			files=$(git_t diff --name-only --diff-filter=U)
			what="conflicts in"
			if [ -z "$files" ]; then
				what="it touches"
				files=$(git_t am --show-current-patch=diff 2>/dev/null |
					sed -n 's|^diff --git a/\(.*\) b/.*|\1|p')
			fi
			die "[$n/$total] patches/$p does not apply to $BASE_PACKAGE $(rebase_state_get REB_VERSION); $what:
$(indent '    ' <<<"$files")
  git am said:
$(grep -v -e '^Applying:' -e '^hint:' -e '^Patch failed at' -e '^When you have resolved' \
	-e '^If you prefer to skip' -e '^To restore the original' <<<"$out" | indent '    ' | tail -n 15)
  Resolve it in $TREE (edit the files, git add -f them), then:
    ./kt rebase --continue   commit it, apply the rest, then write base.conf and patches/
  or give up and go back to $BASE_VERSION (base.conf and patches/ untouched):
    ./kt rebase --abort
  (git am's output: $REBASE_LOG)"
		fi
		n=$((n + 1))
	done
}

# Every patch is in: move the base tag, write base.conf, export patches/,
# and say what changed.
rebase_finish() {
	local version from new_base old_head total commits rd
	version=$(rebase_state_get REB_VERSION)
	from=$(rebase_state_get REB_FROM)
	new_base=$(rebase_state_get REB_BASE)
	old_head=$(rebase_state_get REB_ORIG)
	commits=$(git_t rev-list --count "$new_base..HEAD")
	# Saved once per rebase: after an interruption here, --continue runs
	# this again over files already half rewritten.
	if ! [ -d "$REBASE_SAVED" ]; then
		rm -rf "$REBASE_SAVED.tmp"
		mkdir -p "$REBASE_SAVED.tmp"
		cp -a "$TOP/base.conf" "$TOP/patches" "$REBASE_SAVED.tmp/"
		if [ -e "$VENDORED_CONFIG" ]; then cp -a "$VENDORED_CONFIG" "$REBASE_SAVED.tmp/config.xz"; fi
		mv "$REBASE_SAVED.tmp" "$REBASE_SAVED"
	fi
	git_t tag -f base "$new_base" >/dev/null
	sed -i -e "s/^BASE_VERSION=.*/BASE_VERSION=$version/" \
		-e "s/^BASE_DEB_SHA256=.*/BASE_DEB_SHA256=$(rebase_state_get REB_DEB_SHA256)/" \
		-e "s/^BASE_TARBALL_SHA256=.*/BASE_TARBALL_SHA256=$(rebase_state_get REB_TARBALL_SHA256)/" \
		-e "s/^CONFIG_DEB_SHA256=.*/CONFIG_DEB_SHA256=$(rebase_state_get REB_CONFIG_DEB_SHA256)/" \
		-e "s/^CONFIG_FILE_SHA256=.*/CONFIG_FILE_SHA256=$(rebase_state_get REB_CONFIG_FILE_SHA256)/" \
		"$TOP/base.conf"
	# shellcheck source=base.conf
	. "$TOP/base.conf"
	[ "$BASE_VERSION" = "$version" ] || die "could not rewrite $TOP/base.conf"
	mkdir -p "${VENDORED_CONFIG%/*}"
	xz -9 -c "$(debian_config "$version")" >"$VENDORED_CONFIG"
	say "base.conf: $BASE_PACKAGE and $CONFIG_PACKAGE $BASE_VERSION (was $from)"
	# The state goes only once patches/ is written: if the export fails,
	# --continue runs this again.
	REBASE_FINISHING=1 cmd_export
	rm -f "$REBASE_STATE"
	rm -rf "$REBASE_SAVED"
	total=$(series | wc -l)
	# range-diff leaves out line numbers: "=" is a patch whose hunks only
	# moved, "!" one whose text or context changed.
	rd=$(git_t range-diff --no-color "base-$from..$old_head" "base..HEAD" 2>/dev/null || true)
	say "rebased $commits of $total patches onto $BASE_PACKAGE $BASE_VERSION:" \
		"$(grep -c '^ *[0-9-]*: *[0-9a-f-]* = ' <<<"$rd" || true) with the same diff (at most moved)," \
		"$(grep -c '^ *[0-9-]*: *[0-9a-f-]* ! ' <<<"$rd" || true) with changed context or text"
	grep '^ *[0-9-]*: *[0-9a-f-]* [!<>] ' <<<"$rd" | indent 'kt:   ' || true
	say "the old series is branch series/$from of $TREE (git range-diff base-$from..series/$from base..main)"
	say "now: ./kt build && ./kt test, then commit base.conf, ${VENDORED_CONFIG#"$TOP"/} and patches/"
}

rebase_start() {
	local version=$1 from=$BASE_VERSION new_base old_head old_base touched base_deb tagged=
	[[ $version =~ ^[0-9][0-9a-z.+~-]*$ ]] || die "'$version' is not a Debian version (e.g. 6.1.192-3)"
	rebase_in_progress && die "a rebase to $(rebase_state_get REB_VERSION) is in progress: ./kt rebase --continue or --abort"
	if [ "$version" = "$BASE_VERSION" ]; then
		say "base.conf already pins $BASE_PACKAGE $BASE_VERSION"
		return 0
	fi
	phase fetch fetch_pkg "$version" "" ""
	say "$BASE_PACKAGE $version: .deb sha256 $FETCHED_DEB_SHA256 (as apt's index), tarball sha256 $FETCHED_TARBALL_SHA256"
	base_deb=$FETCHED_DEB_SHA256
	# Debian's config of that version too, which base.conf pins with the
	# base (build --config debian).
	phase "fetch config" fetch_config "$version" "" ""
	say "$CONFIG_PACKAGE $version: .deb sha256 $FETCHED_DEB_SHA256 (as apt's index), config sha256 $FETCHED_CONFIG_SHA256"
	if [ -e "$TREE/.git" ]; then
		git_am_in_progress && die "git am is in progress in $TREE: finish or abort it first"
		ensure_tree 0
	else
		phase unpack make_tree
	fi
	[ "$(git_t log -1 --format=%s base)" = "$(base_subject "$BASE_VERSION")" ] ||
		die "$TREE's base is $(git_t log -1 --format=%s base), not $BASE_VERSION: ./kt tree --reset"
	phase "base $version" new_base "$version"
	new_base=$NEW_BASE
	old_head=$(git_t rev-parse HEAD)
	old_base=$(git_t rev-parse base)
	say "$from -> $version: $(git_t diff --shortstat base "$new_base")"
	touched=$(comm -12 <(git_t diff --name-only base "$new_base") <(git_t diff --name-only base "$old_head"))
	if [ -n "$touched" ]; then
		say "files both the new base and the series change:"
		indent 'kt:   ' <<<"$touched"
	else
		say "the new base changes no file the series touches"
	fi
	git_t rev-parse -q --verify "refs/tags/base-$from" >/dev/null || git_t tag "base-$from" base
	git_t rev-parse -q --verify "refs/tags/base-$version" >/dev/null || tagged="base-$version"
	git_t tag -f "base-$version" "$new_base" >/dev/null
	git_t branch -f "series/$from" "$old_head"
	rm -rf "$REBASE_SAVED" "$REBASE_SAVED.tmp"
	# Written whole, then moved in: the state exists complete or not at all.
	cat >"$REBASE_STATE.tmp" <<-STATE
	REB_VERSION=$version
	REB_FROM=$from
	REB_DEB_SHA256=$base_deb
	REB_TARBALL_SHA256=$FETCHED_TARBALL_SHA256
	REB_CONFIG_DEB_SHA256=$FETCHED_DEB_SHA256
	REB_CONFIG_FILE_SHA256=$FETCHED_CONFIG_SHA256
	REB_BASE=$new_base
	REB_ORIG=$old_head
	REB_OLD_BASE=$old_base
	REB_NEXT=1
	REB_STOPPED=
	REB_TAGGED=$tagged
	STATE
	mv "$REBASE_STATE.tmp" "$REBASE_STATE"
	: >"$REBASE_LOG"
	git_ident
	git_t checkout -q -B main "$new_base"
	phase "git am -3" rebase_apply 1
	rebase_finish
}

# After a conflict: commit the resolved patch (unless the user already did,
# with git am --continue or --skip), then apply the rest.  After an
# interruption: apply the rest, from the patch that was not in yet.
rebase_continue() {
	local n stopped total
	rebase_in_progress || die "no rebase in progress in $TREE"
	n=$(rebase_state_get REB_NEXT)
	stopped=$(rebase_state_get REB_STOPPED)
	total=$(series | wc -l)
	git_ident
	if git_am_in_progress; then
		[ -n "$stopped" ] ||
			die "git am of patches/$(series_from "$n" | head -n 1) was interrupted in $TREE: finish it there (git am --continue) or undo it (git am --abort: it is applied again), then ./kt rebase --continue"
		git_t am --continue >>"$REBASE_LOG" 2>&1 ||
			die "git am --continue failed in $TREE: are all the conflicts resolved and added with git add -f? (unmerged: $(git_t diff --name-only --diff-filter=U | tr '\n' ' '))
  Then ./kt rebase --continue again, or ./kt rebase --abort."
	fi
	if [ -n "$stopped" ]; then
		say "[$stopped/$total] $(series_from "$stopped" | head -n 1): resolved"
		n=$((stopped + 1))
		rebase_state_set REB_NEXT "$n"
		rebase_state_set REB_STOPPED ""
	elif [ "$n" -le "$total" ] &&
		[ "$(git_t log -1 --format=%s)" = "$(patch_subject "$(series_from "$n" | head -n 1)")" ]; then
		# Killed between git am's commit and the state's update.
		n=$((n + 1))
		rebase_state_set REB_NEXT "$n"
	fi
	if [ -z "$stopped" ]; then
		if [ "$n" -le "$total" ]; then
			say "resuming at [$n/$total]"
		else
			say "every patch is in: resuming the last step"
		fi
	fi
	phase "git am -3" rebase_apply "$n"
	rebase_finish
}

rebase_abort() {
	local from tag
	rebase_in_progress || die "no rebase in progress in $TREE"
	from=$(rebase_state_get REB_FROM)
	if git_am_in_progress; then git_t am --abort >/dev/null 2>&1 || git_t am --quit; fi
	# By commit id, not by branch and tag names, which an interrupted
	# --abort may already have deleted.
	git_t checkout -q -f -B main "$(rebase_state_get REB_ORIG)"
	# An interrupted rebase_finish may have moved the base tag and
	# rewritten base.conf, the kept config and patches/.
	git_t tag -f base "$(rebase_state_get REB_OLD_BASE)" >/dev/null
	if [ -d "$REBASE_SAVED" ]; then
		cp -a "$REBASE_SAVED/base.conf" "$TOP/base.conf"
		replace_patches "$REBASE_SAVED/patches"
		if [ -e "$REBASE_SAVED/config.xz" ]; then
			cp -a "$REBASE_SAVED/config.xz" "$VENDORED_CONFIG"
		else
			rm -f "$VENDORED_CONFIG"
		fi
	fi
	git_t branch -D "series/$from" >/dev/null 2>&1 || true
	tag=$(rebase_state_get REB_TAGGED)
	[ -z "$tag" ] || git_t tag -d "$tag" >/dev/null 2>&1 || true
	# The copy goes first: without the state it would stay behind.
	rm -rf "$REBASE_SAVED" "$REBASE_SAVED.tmp"
	rm -f "$REBASE_STATE"
	say "rebase aborted: $TREE is back on $from, as patches/ has it"
}

cmd_rebase() {
	local action=start version=
	while [ $# -gt 0 ]; do
		case $1 in
		--continue) action="continue" ;;
		--abort) action="abort" ;;
		-*) die "unknown option '$1' (./kt help)" ;;
		*)
			[ -z "$version" ] || die "one version, please (./kt help)"
			version=$1
			;;
		esac
		shift
	done
	need "$PKGS_BASE"
	case $action in
	start)
		[ -n "$version" ] || die "./kt rebase VERSION (apt has: $(apt-cache madison "$BASE_PACKAGE" 2>/dev/null | awk '{ print $3 }' | paste -sd ' '))"
		rebase_start "$version"
		;;
	continue) rebase_continue ;;
	abort) rebase_abort ;;
	esac
	timings
}
