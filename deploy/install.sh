#!/usr/bin/env bash
# Installs guestport on a Debian 12 host, as root: the packages it needs, a release
# build, guestportd and guestportctl, the systemd units (guestportd.service and the
# oneshot guestport-hugepages.service), the docs and one example config per mode, and
# /etc/guestport/guestport.yaml (the NAT example) unless one is there already. Every
# file it writes is listed in a manifest, and --uninstall removes exactly those (a
# config the operator changed is kept).
#
#   deploy/install.sh [--prefix DIR] [--no-deps] [--build-dir DIR] [--no-systemctl]
#   deploy/install.sh --uninstall [--prefix DIR]
#
# --prefix DIR: a staged install: everything goes under DIR (DIR/usr/local/bin/...,
# DIR/etc/guestport/...) with the paths inside the units as on the final host, and
# systemctl is never called. Without it the root is / and systemd is told
# (daemon-reload; the units are enabled, not started).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
root=/
deps=1
build=build-release
systemctl_ok=1
uninstall=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) root=$2; shift 2 ;;
    --no-deps) deps=0; shift ;;
    --build-dir) build=$2; shift 2 ;;
    --no-systemctl) systemctl_ok=0; shift ;;
    --uninstall) uninstall=1; shift ;;
    -h|--help) sed -n 2,16p "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ "$root" = / ] || { mkdir -p "$root"; root=$(cd "$root" && pwd); systemctl_ok=0; }
[ "$(id -u)" = 0 ] || [ "$root" != / ] || { echo "install.sh: run as root" >&2; exit 1; }
have_systemd() { [ "$systemctl_ok" = 1 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }
at() { [ "$root" = / ] && echo "$1" || echo "$root$1"; }
manifest=$(at /usr/local/share/guestport/install-manifest)

if [ "$uninstall" = 1 ]; then
  [ -f "$manifest" ] || { echo "install.sh: nothing installed under $root (no $manifest)" >&2; exit 1; }
  if have_systemd; then
    systemctl disable --now guestportd.service guestport-hugepages.service 2>/dev/null || true
  fi
  kept=0
  while read -r sum path; do
    f=$(at "$path")
    [ -e "$f" ] || continue
    if [ "$path" = /etc/guestport/guestport.yaml ] && [ "$(sha256sum < "$f" | cut -d' ' -f1)" != "$sum" ]; then
      echo "install.sh: keeping $f (changed since it was installed)"; kept=1; continue
    fi
    rm -f "$f"
  done < "$manifest"
  rm -f "$manifest"
  # The directories it made, if now empty (deepest first).
  for d in /etc/systemd/system/guestportd.service.d /etc/guestport \
           /usr/local/share/guestport/examples /usr/local/share/guestport \
           /usr/local/share/doc/guestport; do
    rmdir "$(at "$d")" 2>/dev/null || true
  done
  have_systemd && systemctl daemon-reload
  echo "install.sh: uninstalled from $root$([ $kept = 1 ] && echo ' (config kept)')"
  exit 0
fi

if [ "$deps" = 1 ]; then
  bash "$src/deploy/install-deps.sh"
fi
cd "$src"
echo "install.sh: release build in $build"
[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release -Dbenchmarks=false >/dev/null
ninja -C "$build" control/guestportd control/guestportctl >/dev/null
stage=$(mktemp -d /tmp/guestport-stage.XXXXXX)
trap 'rm -rf "$stage"' EXIT
meson install -C "$build" --no-rebuild --quiet --destdir "$stage" >/dev/null
install -D -m 0644 "$src/deploy/examples/nat.yaml" "$stage/etc/guestport/guestport.yaml"
# CPU affinity of the service: the CPUs of the config's lcores.
cpus=$("$build/control/guestportctl" check --cpus -f "$src/deploy/examples/nat.yaml")
if [ -f "$(at /etc/guestport/guestport.yaml)" ]; then
  cpus=$("$build/control/guestportctl" check --cpus -f "$(at /etc/guestport/guestport.yaml)" ||
         echo "$cpus")
fi
mkdir -p "$stage/etc/systemd/system/guestportd.service.d"
printf '# Written by deploy/install.sh from `guestportctl check --cpus`.\n[Service]\nCPUAffinity=%s\n' \
  "$cpus" > "$stage/etc/systemd/system/guestportd.service.d/cpus.conf"

mkdir -p "$(dirname "$manifest")"
old_manifest=""
[ -f "$manifest" ] && old_manifest=$(cat "$manifest")
: > "$manifest.new"
n=0
while IFS= read -r -d '' f; do
  rel=${f#"$stage"}
  dst=$(at "$rel")
  if [ "$rel" = /etc/guestport/guestport.yaml ] && [ -e "$dst" ]; then
    # An existing config stays; it is in the manifest only if this script wrote it.
    line=$(printf '%s\n' "$old_manifest" | grep " $rel\$" || true)
    [ -z "$line" ] || echo "$line" >> "$manifest.new"
    continue
  fi
  install -D -m "$(stat -c %a "$f")" "$f" "$dst"
  echo "$(sha256sum < "$f" | cut -d' ' -f1) $rel" >> "$manifest.new"
  n=$((n + 1))
done < <(find "$stage" -type f -print0 | sort -z)
mv "$manifest.new" "$manifest"
echo "install.sh: $n files under $root (manifest $manifest); CPUAffinity=$cpus"
if have_systemd; then
  systemctl daemon-reload
  systemctl enable guestport-hugepages.service guestportd.service
  echo "install.sh: enabled; edit /etc/guestport/guestport.yaml, then: systemctl start guestportd"
fi
