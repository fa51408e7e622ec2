#!/bin/sh
# generate.sh [WORKDIR]
#
# Regenerates the golden vectors in the directory this script lives in
# (test/vectors/ of the repository), using the gocryptfs binary found in
# $PATH (the vectors were made with gocryptfs 2.3, Debian package
# 2.3-1+b4). Needs root (or fuse permissions), GNU tar, GNU diff, sha256sum,
# fusermount.
#
# WORKDIR is a scratch directory (default: a fresh mktemp -d). Everything
# that is mounted is unmounted again, also on error.
set -eu
LC_ALL=C
export LC_ALL
umask 022

OUT=$(cd "$(dirname "$0")" && pwd)
WORK=${1:-$(mktemp -d)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
MOUNTS=""

cleanup() {
	for m in $MOUNTS; do
		if mountpoint -q "$m" 2>/dev/null; then fusermount -u "$m" || true; fi
	done
}
trap cleanup EXIT INT TERM

mnt() { # mnt MOUNTPOINT gocryptfs-args...
	m=$1; shift
	mkdir -p "$m"
	MOUNTS="$MOUNTS $m"
	gocryptfs -q -nosyslog "$@" "$m"
}
umnt() { fusermount -u "$1"; }

# Deterministic, documented master keys: sha256 of a fixed string
key_hex() { printf '%s' "$1" | sha256sum | cut -c1-64; }
dashed() { echo "$1" | sed 's/\(........\)/\1-/g; s/-$//'; }

TAROPTS="--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu"

# listing DIR > file   (one line per entry, sorted by path)
#   f MODE SIZE SHA256 PATH
#   l MODE SIZE TARGET PATH
#   d MODE -    -      PATH
listing() {
	(cd "$1" && find . -mindepth 1 | sort | while IFS= read -r p; do
		m=$(stat -c '%a' "$p")
		if [ -L "$p" ]; then
			printf 'l %s %s %s %s\n' "$m" "$(stat -c %s "$p")" "$(readlink "$p")" "$p"
		elif [ -d "$p" ]; then
			printf 'd %s - - %s\n' "$m" "$p"
		else
			printf 'f %s %s %s %s\n' "$m" "$(stat -c %s "$p")" "$(sha256sum < "$p" | cut -c1-64)" "$p"
		fi
	done)
}
# plaintext comparison listing: like listing, but without the config file
plainlisting() { listing "$1" | grep -v ' \./\.gocryptfs\.reverse\.conf$' || true; }

echo "== plaintext tree"
rm -rf "$WORK/tree"
"$OUT/make-tree.sh" "$WORK/tree"
tar -C "$WORK/tree" $TAROPTS -cf "$OUT/plaintext-tree.tar" .
listing "$WORK/tree" > "$OUT/plaintext-tree.listing"

for V in A B C; do
	echo "== config $V"
	D=$OUT/$V
	mkdir -p "$D"
	rm -f "$D"/*
	KEY=$(key_hex "gocryptfs-reverse-vector-$V")
	printf '%s\n' "$(dashed "$KEY")" > "$D/masterkey.txt"
	printf 'vector-%s-password\n' "$V" > "$D/passfile.txt"
	# INITFLAGS: used with -init; MKFLAGS: the same settings as command-line
	# flags, needed when mounting with -masterkey (the config is not read then)
	case $V in
	A) INITFLAGS="-aessiv -plaintextnames"; MKFLAGS="-aessiv -plaintextnames" ;;
	B) INITFLAGS=""; MKFLAGS="-aessiv" ;;
	C) INITFLAGS="-deterministic-names -longnamemax 100"
	   MKFLAGS="-aessiv -deterministic-names -longnamemax 100" ;;
	esac
	echo "gocryptfs -init -reverse${INITFLAGS:+ $INITFLAGS}" > "$D/init-flags.txt"

	# 1. create the config (random master key), then re-wrap it with the
	#    fixed master key using -passwd -masterkey (new password from stdin)
	rm -rf "$WORK/conf$V"; mkdir -p "$WORK/conf$V"
	gocryptfs -q -init -reverse $INITFLAGS -passfile "$D/passfile.txt" \
		-config "$WORK/conf$V/reverse.conf" "$WORK/tree"
	printf 'vector-%s-password\n' "$V" | gocryptfs -q -passwd -masterkey="$(dashed "$KEY")" \
		-config "$WORK/conf$V/reverse.conf" "$WORK/tree"
	rm -f "$WORK/conf$V/reverse.conf.bak"
	cp "$WORK/conf$V/reverse.conf" "$D/gocryptfs.conf"
	chmod 0644 "$D/gocryptfs.conf"
	gocryptfs -q -info -config "$D/gocryptfs.conf" "$WORK/tree" > "$D/info.txt"

	# 2. the source tree gets the config as .gocryptfs.reverse.conf
	rm -rf "$WORK/src$V"; cp -a "$WORK/tree" "$WORK/src$V"
	install -m 0400 "$D/gocryptfs.conf" "$WORK/src$V/.gocryptfs.reverse.conf"

	# 3. mount reverse, capture the encrypted view
	mnt "$WORK/view$V" -reverse -passfile "$D/passfile.txt" "$WORK/src$V"
	tar -C "$WORK/view$V" $TAROPTS -cf "$D/view.tar" .
	listing "$WORK/view$V" > "$D/view.listing"
	(cd "$WORK/view$V" && find . -type f | sort | xargs -d '\n' sha256sum) > "$D/view.sha256sums"
	umnt "$WORK/view$V"

	# 4. determinism: a second mount gives a byte-identical view
	mnt "$WORK/view$V" -reverse -passfile "$D/passfile.txt" "$WORK/src$V"
	tar -C "$WORK/view$V" $TAROPTS -cf "$WORK/view$V-2.tar" .
	umnt "$WORK/view$V"
	cmp "$D/view.tar" "$WORK/view$V-2.tar"
	echo "   second mount: identical"

	# 5. renaming (and copying = new inode numbers) the source root does not
	#    change the view
	mv "$WORK/src$V" "$WORK/src$V-renamed"
	mnt "$WORK/view$V" -reverse -passfile "$D/passfile.txt" "$WORK/src$V-renamed"
	tar -C "$WORK/view$V" $TAROPTS -cf "$WORK/view$V-3.tar" .
	umnt "$WORK/view$V"
	cmp "$D/view.tar" "$WORK/view$V-3.tar"
	echo "   renamed source root: identical"
	rm -rf "$WORK/src$V-copy"; cp -a "$WORK/src$V-renamed" "$WORK/src$V-copy"
	mnt "$WORK/view$V" -reverse -passfile "$D/passfile.txt" "$WORK/src$V-copy"
	tar -C "$WORK/view$V" $TAROPTS -cf "$WORK/view$V-4.tar" .
	umnt "$WORK/view$V"
	cmp "$D/view.tar" "$WORK/view$V-4.tar"
	echo "   copied source tree (new inodes): identical"

	# 6. -masterkey instead of the config file (flags from the command line)
	mnt "$WORK/view$V" -reverse $MKFLAGS -masterkey="$(dashed "$KEY")" "$WORK/src$V-copy"
	tar -C "$WORK/view$V" $TAROPTS -cf "$WORK/view$V-5.tar" .
	umnt "$WORK/view$V"
	cmp "$D/view.tar" "$WORK/view$V-5.tar"
	echo "   -masterkey mount: identical"
	mv "$WORK/src$V-renamed" "$WORK/src$V"

	# 7. round trip: extract the view, mount it in forward mode, compare
	rm -rf "$WORK/cipher$V"; mkdir "$WORK/cipher$V"
	tar -C "$WORK/cipher$V" -xf "$D/view.tar"
	mnt "$WORK/plain$V" -ro -passfile "$D/passfile.txt" "$WORK/cipher$V"
	diff -r --no-dereference "$WORK/tree" "$WORK/plain$V"
	plainlisting "$WORK/plain$V" > "$WORK/plain$V.listing"
	umnt "$WORK/plain$V"
	plainlisting "$WORK/tree" | diff - "$WORK/plain$V.listing"
	echo "   forward mount with password: round trip OK"
	mnt "$WORK/plain$V" -ro $MKFLAGS -masterkey="$(dashed "$KEY")" "$WORK/cipher$V"
	diff -r --no-dereference "$WORK/tree" "$WORK/plain$V"
	umnt "$WORK/plain$V"
	echo "   forward mount with -masterkey: round trip OK"
done
echo "== done, vectors in $OUT"
