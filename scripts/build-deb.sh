#!/usr/bin/env bash
# Builds dist/garssld_<version>_amd64.deb and, where the arm64 cross
# toolchain and FFmpeg's arm64 -dev packages are installed (`make
# deb-deps`), dist/garssld_<version>_arm64.deb. Run by `make deb`:
#   DEB_VERSION=1.2.3 scripts/build-deb.sh
# The arm64 binary is cross-compiled with cgo against Debian's multiarch
# FFmpeg; each binary's Depends come from dpkg-shlibdeps on that binary;
# the man page comes from the amd64 binary's own help (the arm64 one is
# built from the same source). Without the arm64 packages it says so and
# builds amd64 alone.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
export PATH=/usr/local/go/bin:$PATH

version=${DEB_VERSION:?DEB_VERSION is the Debian version, e.g. 0.1.0~git20261205.abc1234}
maintainer=${DEB_MAINTAINER:-garssld developers <garssld@example.org>}
arches=${DEB_ARCHES:-amd64 arm64}
# Dated by the commit, so that two builds of one commit are the same.
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH=$epoch
# bindnow and the rest of dpkg-buildflags' hardening for the cgo parts.
export DEB_BUILD_MAINT_OPTIONS=${DEB_BUILD_MAINT_OPTIONS:-hardening=+all}
dist=${DEB_DIST:-dist}
mkdir -p "$dist"

# Toolchain and flags per Debian architecture.
triplet() { dpkg-architecture -a"$1" -qDEB_HOST_MULTIARCH 2>/dev/null; }

# missing_for ARCH: the packages needed to cross-build for ARCH that are
# not installed, one per line.
missing_for() {
	local arch=$1 t
	t=$(triplet "$arch")
	local pkgs="gcc-$t libc6-dev:$arch"
	for l in libavcodec libavformat libavdevice libavfilter libswscale libswresample libavutil; do
		pkgs+=" $l-dev:$arch"
	done
	for p in $pkgs; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
	done
}

# build_binary ARCH OUT: the stripped, PIE, RELRO+BINDNOW binary, with
# dpkg-buildflags' hardening for the cgo parts.
build_binary() {
	local arch=$1 out=$2 t
	t=$(triplet "$arch")
	local env=(CGO_ENABLED=1 GOOS=linux GOARCH="$arch"
		CGO_CFLAGS="$(DEB_HOST_ARCH=$arch dpkg-buildflags --get CFLAGS 2>/dev/null)"
		CGO_LDFLAGS="$(DEB_HOST_ARCH=$arch dpkg-buildflags --get LDFLAGS 2>/dev/null)")
	if [ "$arch" != "$(dpkg --print-architecture)" ]; then
		# Debian's multiarch .pc files: libdir is /usr/lib/<triplet>, the
		# headers /usr/include/<triplet>, which the cross gcc searches.
		env+=(CC="$t-gcc" PKG_CONFIG_LIBDIR="/usr/lib/$t/pkgconfig:/usr/share/pkgconfig")
	fi
	env "${env[@]}" go build -trimpath -buildmode=pie \
		-ldflags "-s -w -X main.version=$version -linkmode=external" \
		-o "$out" ./cmd/garssld
}

# depends BINARY ARCH: dpkg-shlibdeps' shlibs:Depends for the binary;
# for a foreign ARCH it reads the :ARCH libraries' shlibs/symbols files.
depends() {
	local bin=$1 arch=$2 dir
	dir=$(mktemp -d)
	mkdir -p "$dir/debian/garssld/usr/bin"
	printf 'Source: garssld\n\nPackage: garssld\nArchitecture: any\n' >"$dir/debian/control"
	cp "$bin" "$dir/debian/garssld/usr/bin/garssld"
	(cd "$dir" && DEB_HOST_ARCH=$arch DEB_HOST_MULTIARCH=$(triplet "$arch") \
		dpkg-shlibdeps -O -e debian/garssld/usr/bin/garssld 2>"$dir/warnings") |
		sed -n 's/^shlibs:Depends=//p'
	# dpkg-shlibdeps warns of libraries the binary links without using
	# a symbol of (Go's cgo links all that pkg-config names); say so once.
	grep -v 'useless dependency\|were not linked against\|should already be installed' "$dir/warnings" >&2 || true
	rm -rf "$dir"
}

stage=$dist/build
rm -rf "$stage"
mkdir -p "$stage"

# Files every architecture shares: the unit pointing at /usr/bin, the
# changelog.
make -s unit UNIT_OUT="$stage/garssld.service" PREFIX=/usr
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
{
	echo "garssld ($version) bookworm; urgency=medium"
	echo
	echo "  * Built from garssld commit $commit."
	echo
	echo " -- $maintainer  $(date -u -R -d "@$epoch")"
} >"$stage/changelog"
gzip -9n -c "$stage/changelog" >"$stage/changelog.gz"

built=()
for arch in $arches; do
	if [ "$arch" != "$(dpkg --print-architecture)" ]; then
		missing=$(missing_for "$arch")
		if [ -n "$missing" ]; then
			echo "build-deb: NOT building $arch: these packages are missing (make deb-deps installs them):" $missing >&2
			continue
		fi
	fi
	mkdir -p "$stage/$arch"
	cp "$stage/garssld.service" "$stage/changelog.gz" "$stage/$arch/"
	echo "== $arch: go build"
	build_binary "$arch" "$stage/$arch/garssld"
	if [ ! -e "$stage/garssld.1.gz" ]; then
		# The man page from the host's binary: it is the same source.
		[ "$arch" = "$(dpkg --print-architecture)" ] ||
			fail "the man page needs the $(dpkg --print-architecture) binary; list it first in DEB_ARCHES"
		go run ./deb/manpage -bin "$stage/$arch/garssld" -version "$version" \
			-date "$(date -u -d "@$epoch" +%Y-%m-%d)" >"$stage/garssld.1"
		gzip -9n -c "$stage/garssld.1" >"$stage/garssld.1.gz"
	fi
	cp "$stage/garssld.1.gz" "$stage/$arch/"
	deps=$(depends "$stage/$arch/garssld" "$arch")
	[ -n "$deps" ] || fail "dpkg-shlibdeps found no Depends for the $arch binary"
	echo "   Depends: $deps"
	out=$dist/garssld_${version}_${arch}.deb
	DEB_ARCH=$arch DEB_VERSION=$version DEB_MAINTAINER=$maintainer DEB_DEPENDS=$deps DEB_STAGE=$stage/$arch \
		go tool nfpm package --config deb/nfpm.yaml --packager deb --target "$out" >"$stage/nfpm.log" ||
		fail "nfpm failed for $arch" "$stage/nfpm.log"
	echo "   $out ($(du -h "$out" | cut -f1))"
	built+=("$out")
done
[ ${#built[@]} -gt 0 ] || fail "no package built"
