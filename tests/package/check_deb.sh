#!/bin/sh
# The Debian package CPack makes from a build directory: the programs, man
# pages, completion, modulefile, templates and docs inside, and its library
# dependencies computed by dpkg-shlibdeps.  check_deb.sh BUILD_DIR VERSION
set -eu
build=$1 version=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$out" >"$out/cpack.log" 2>&1 || { cat "$out/cpack.log"; exit 1; }
deb=$(ls "$out"/*.deb)
dpkg-deb -c "$deb" >"$out/list"
for f in bin/distenv bin/distenv-bootstrap share/man/man1/distenv.1 share/man/man1/distenv-bootstrap.1 \
         share/bash-completion/completions/distenv "share/distenv/modulefiles/distenv/$version" \
         share/distenv/templates/distenv.sbatch share/distenv/templates/distenv-julia.sbatch share/distenv/templates/distenv.sge \
         share/doc/distenv/LICENSE share/doc/distenv/copyright; do
  grep -q "/$f\$" "$out/list" || { echo "$deb: missing $f"; cat "$out/list"; exit 1; }
done
# Stripped: no debug sections in the programs.
dpkg-deb -x "$deb" "$out/root"
for p in distenv distenv-bootstrap; do
  [ -f "$out/root/usr/bin/$p" ] || { echo "$deb: no usr/bin/$p"; exit 1; }
  if readelf -S "$out/root/usr/bin/$p" 2>/dev/null | grep -q '\.debug_info'; then
    echo "$deb: usr/bin/$p is not stripped"
    exit 1
  fi
done
# The man pages have the sections a user looks for.
for m in distenv distenv-bootstrap; do
  page=$(ls "$out/root/usr/share/man/man1/$m.1"*)
  for section in "EXIT STATUS" ENVIRONMENT FILES EXAMPLES; do
    zcat -f "$page" | grep -q "^\.SH \"\{0,1\}$section" || { echo "$deb: $m(1) has no $section section"; exit 1; }
  done
done
depends=$(dpkg-deb -f "$deb" Depends)
case $depends in
  *libarchive*) echo "$(basename "$deb"): Depends: $depends" ;;
  *) echo "$deb: no library dependencies computed: '$depends'"; exit 1 ;;
esac
