#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# setup.sh — the project's one set-up: installs everything Linux doors needs
# to build, test and run the sched_ext VM tests on a fresh machine.
#
# Supported: Debian 12 (bookworm; libbpf-dev and bpftool come from
# bookworm-backports, pinned low), Debian 13+ and Ubuntu 24.10+ (everything
# from the main archive). Idempotent: when every package is already installed
# (at a new enough version) apt is not touched at all, and `apt-get update`
# runs only when a suite was added or a package has no install candidate.
#
# Only Debian's (or Ubuntu's) own archive is used; nothing else is downloaded.
#
# Environment:
#   DOOR_SETUP_SCX=0   skip the sched_ext/VM packages (clang, qemu, libbpf...)
set -euo pipefail

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive

# Root, or sudo when available.
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n env DEBIAN_FRONTEND=noninteractive)
  else
    die "not root and sudo is not available; run as root"
  fi
fi

# apt waits for a lock held by another apt/dpkg instead of failing.
APT_OPTS=(-y -q -o DPkg::Lock::Timeout=900 -o Dpkg::Options::=--force-confdef
          -o Dpkg::Options::=--force-confold --no-install-recommends)

# ---- Packages ---------------------------------------------------------------
BASE_PKGS=(build-essential cmake pkgconf libgtest-dev libgmock-dev
           libbenchmark-dev libexpected-dev libfmt-dev libcli11-dev
           nlohmann-json3-dev)
# Hardening (valgrind memcheck; clang-19 with its sanitizer and libFuzzer
# runtimes: its ASan is fork-safe, GCC 12's is not) and the benchmark suite's
# baselines (gRPC over a unix socket), plots, python3 (standard library
# only) for bench/report.py, which turns the JSON into the report, and
# rt-tests for hackbench, the unrelated workload the VM section runs beside
# door traffic.
TOOL_PKGS=(valgrind clang-19 libclang-rt-19-dev libgrpc++-dev libprotobuf-dev
           protobuf-compiler protobuf-compiler-grpc gnuplot-nox python3 rt-tests)
# Async door calls need io_uring futex operations: liburing >= 2.6. Debian 12
# has 2.3; trixie's 2.9 installs on bookworm (its runtime needs only libc6).
URING_PKGS=(liburing-dev)
SCX_PKGS=(clang-19 llvm-19 qemu-system-x86 busybox-static cpio zstd xz-utils e2fsprogs
          libelf-dev zlib1g-dev)
# Need newer versions than Debian 12's main archive has (sched_ext struct_ops
# links need libbpf >= 1.4, bpftool >= 7.5 for the vmlinux.h/skeleton flow).
BPF_PKGS=(libbpf-dev bpftool)
declare -A MIN_VERSION=([libbpf-dev]="1:1.4" [bpftool]="7.5" [liburing-dev]="2.6")

[[ -r /etc/os-release ]] || die "/etc/os-release missing: unsupported system"
# shellcheck disable=SC1091
. /etc/os-release
OS_ID=${ID:-unknown}
OS_VER=${VERSION_ID:-0}
OS_CODENAME=${VERSION_CODENAME:-}

# version_ge A B: A >= B for dotted numeric versions (24.10 >= 24.04).
version_ge() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]; }

USE_BACKPORTS=0   # Debian 12: bpf packages from bookworm-backports,
                  # liburing from trixie, both pinned low.
case "$OS_ID" in
  debian)
    if [[ "$OS_VER" == 12* || "$OS_CODENAME" == bookworm ]]; then
      USE_BACKPORTS=1
    elif [[ "$OS_VER" =~ ^[0-9]+$ ]] && (( OS_VER >= 13 )); then
      USE_BACKPORTS=0
    elif [[ -z "$OS_VER" || "$OS_VER" == 0 ]]; then
      USE_BACKPORTS=0   # testing/sid: no VERSION_ID, newest packages
    else
      die "Debian $OS_VER is too old (need 12 or newer)"
    fi ;;
  ubuntu)
    version_ge "$OS_VER" 24.10 || die "Ubuntu $OS_VER is too old (need 24.10 or newer)"
    ;;
  *)
    die "unsupported distribution '$OS_ID' (Debian 12+, Ubuntu 24.10+)" ;;
esac

WANT=("${BASE_PKGS[@]}" "${TOOL_PKGS[@]}")
(( USE_BACKPORTS )) || WANT+=("${URING_PKGS[@]}")
if [[ "${DOOR_SETUP_SCX:-1}" != 0 ]]; then
  if (( USE_BACKPORTS )); then
    WANT+=("${SCX_PKGS[@]}")
  else
    WANT+=("${SCX_PKGS[@]}" "${BPF_PKGS[@]}")
  fi
fi

# installed_ok PKG: installed, and at least MIN_VERSION[PKG] when set.
installed_ok() {
  local pkg=$1 status ver
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) || return 1
  [[ "$status" == "install ok installed" ]] || return 1
  if [[ -n "${MIN_VERSION[$pkg]:-}" ]]; then
    ver=$(dpkg-query -W -f='${Version}' "$pkg")
    dpkg --compare-versions "$ver" ge "${MIN_VERSION[$pkg]}" || return 1
  fi
  return 0
}

MISSING=()
for p in "${WANT[@]}"; do installed_ok "$p" || MISSING+=("$p"); done
MISSING_BPO=()
MISSING_TRIXIE=()
if (( USE_BACKPORTS )) && [[ "${DOOR_SETUP_SCX:-1}" != 0 ]]; then
  for p in "${BPF_PKGS[@]}"; do installed_ok "$p" || MISSING_BPO+=("$p"); done
fi
if (( USE_BACKPORTS )); then
  for p in "${URING_PKGS[@]}"; do installed_ok "$p" || MISSING_TRIXIE+=("$p"); done
fi

if (( ${#MISSING[@]} == 0 && ${#MISSING_BPO[@]} == 0 && ${#MISSING_TRIXIE[@]} == 0 )); then
  log "all packages already installed (${OS_ID} ${OS_VER}); nothing to do"
  exit 0
fi

# ---- bookworm-backports (Debian 12 only) -------------------------------------
NEED_UPDATE=0

# write_if_changed FILE CONTENT: (re)writes FILE only when it differs.
write_if_changed() {
  local file=$1 content=$2
  if [[ -f "$file" ]] && [[ "$(cat "$file")" == "$content" ]]; then
    return 1
  fi
  log "writing $file"
  printf '%s\n' "$content" | "${SUDO[@]}" tee "$file" >/dev/null
  return 0
}

# Prints "URI KEYRING" of the archive serving plain 'bookworm'.
bookworm_archive() {
  local f uri="" key=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    # deb822: one paragraph per blank-line separated block.
    read -r uri key < <(awk '
      BEGIN { RS = ""; FS = "\n" }
      {
        u = ""; k = ""; s = 0; t = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/)      { u = $i; sub(/^URIs:[ \t]*/, "", u); sub(/[ \t].*/, "", u) }
          if ($i ~ /^Signed-By:/) { k = $i; sub(/^Signed-By:[ \t]*/, "", k) }
          if ($i ~ /^Types:/ && $i ~ /(^|[ \t])deb([ \t]|$)/) t = 1
          if ($i ~ /^Suites:/ && $i ~ /[ \t]bookworm([ \t]|$)/) s = 1
        }
        if (s && t && u != "") { print u, (k == "" ? "-" : k); exit }
      }' "$f") || true
    [[ -n "$uri" ]] && break
  done
  if [[ -z "$uri" && -f /etc/apt/sources.list ]]; then
    # One-line format: deb [signed-by=K] URI bookworm main
    read -r uri key < <(awk '
      $1 == "deb" {
        k = "-"; i = 2
        if ($2 ~ /^\[/) {
          for (; i <= NF; i++) {
            if ($i ~ /signed-by=/) { k = $i; sub(/.*signed-by=/, "", k); sub(/\].*/, "", k) }
            if ($i ~ /\]$/) { i++; break }
          }
        }
        if ($(i + 1) == "bookworm") { print $i, k; exit }
      }' /etc/apt/sources.list) || true
  fi
  [[ -n "$uri" ]] || uri=http://deb.debian.org/debian
  if [[ -z "$key" || "$key" == - ]]; then
    key=/usr/share/keyrings/debian-archive-keyring.gpg
  fi
  printf '%s %s\n' "$uri" "$key"
}

# add_suite SUITE: makes SUITE (same archive and keyring as bookworm) known to
# apt with priority 100, so only packages named with -t SUITE come from it.
add_suite() {
  local suite=$1 uri key
  if grep -rqsE "^[[:space:]]*Suites:.*[[:space:]]${suite}([[:space:]]|\$)" \
       /etc/apt/sources.list.d/ --include='*.sources' ||
     grep -rqsE "^[[:space:]]*deb[[:space:]].*[[:space:]]${suite}[[:space:]]" \
       /etc/apt/sources.list /etc/apt/sources.list.d/ --include='*.list'; then
    log "$suite already configured"
  else
    read -r uri key < <(bookworm_archive)
    if write_if_changed "/etc/apt/sources.list.d/${suite}.sources" \
"Types: deb
URIs: $uri
Suites: $suite
Components: main
Signed-By: $key"; then
      NEED_UPDATE=1
    fi
  fi
  write_if_changed "/etc/apt/preferences.d/${suite}" \
"Package: *
Pin: release n=${suite}
Pin-Priority: 100" || true
}

(( ${#MISSING_BPO[@]} )) && add_suite bookworm-backports
(( ${#MISSING_TRIXIE[@]} )) && add_suite trixie

# ---- apt-get update only when needed ------------------------------------------
# has_candidate PKG [SUITE]: apt knows an installable version (from SUITE).
has_candidate() {
  local pkg=$1 suite=${2:-}
  if [[ -n "$suite" ]]; then
    apt-cache madison "$pkg" 2>/dev/null | grep -q " $suite/"
  else
    local cand
    cand=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ { print $2 }')
    [[ -n "$cand" && "$cand" != "(none)" ]]
  fi
}

if (( ! NEED_UPDATE )); then
  for p in "${MISSING[@]}"; do
    has_candidate "$p" || { NEED_UPDATE=1; break; }
  done
fi
if (( ! NEED_UPDATE )); then
  for p in "${MISSING_BPO[@]}"; do
    has_candidate "$p" bookworm-backports || { NEED_UPDATE=1; break; }
  done
fi
if (( ! NEED_UPDATE )); then
  for p in "${MISSING_TRIXIE[@]}"; do
    has_candidate "$p" trixie || { NEED_UPDATE=1; break; }
  done
fi

apt_update() {
  log "apt-get update"
  "${SUDO[@]}" apt-get -q -o DPkg::Lock::Timeout=900 update
}

# apt_install ARGS...: install; on failure (stale lists) update once and retry.
apt_install() {
  if ! "${SUDO[@]}" apt-get install "${APT_OPTS[@]}" "$@"; then
    log "install failed; refreshing package lists and retrying once"
    apt_update
    "${SUDO[@]}" apt-get install "${APT_OPTS[@]}" "$@"
  fi
}

(( NEED_UPDATE )) && apt_update

if (( ${#MISSING[@]} )); then
  log "installing: ${MISSING[*]}"
  apt_install "${MISSING[@]}"
fi
if (( ${#MISSING_BPO[@]} )); then
  log "installing from bookworm-backports: ${MISSING_BPO[*]}"
  apt_install -t bookworm-backports "${MISSING_BPO[@]}"
fi
if (( ${#MISSING_TRIXIE[@]} )); then
  log "installing from trixie: ${MISSING_TRIXIE[*]}"
  apt_install -t trixie "${MISSING_TRIXIE[@]}"
fi

# ---- Verify -------------------------------------------------------------------
FAILED=()
for p in "${WANT[@]}"; do installed_ok "$p" || FAILED+=("$p"); done
if (( USE_BACKPORTS )) && [[ "${DOOR_SETUP_SCX:-1}" != 0 ]]; then
  for p in "${BPF_PKGS[@]}"; do installed_ok "$p" || FAILED+=("$p"); done
fi
if (( USE_BACKPORTS )); then
  for p in "${URING_PKGS[@]}"; do installed_ok "$p" || FAILED+=("$p"); done
fi
(( ${#FAILED[@]} == 0 )) || die "still missing or too old after install: ${FAILED[*]}"
log "done"
