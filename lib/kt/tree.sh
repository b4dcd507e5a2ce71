# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# kt, the base and the tree: fetch (the pinned linux-source package),
# tree (build/linux: the base, then patches/ applied with git am), export
# (patches/ from the tree's commits), and the series helpers the other
# commands use (series, git_t, ensure_tree).  Sourced by ./kt.

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
