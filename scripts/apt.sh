# shellcheck shell=bash
# Sourced by the test scripts: installs Debian packages that are missing,
# and only those. A package that is already installed is never upgraded:
# `apt-get install P` upgrades an installed P to the candidate version (and
# with it, say, libssl3 under every other program on the machine), so the
# installed ones are filtered out first, and --no-upgrade guards the rest.
#
#   apt_install_missing PKG...   install the PKGs dpkg does not list as
#                                installed; a no-op when none is missing
#
# `apt-get update` runs at most once (per hour, shared with
# scripts/postfix/up.sh through its stamp file), and again only when an
# install fails on stale package lists.

# deb_installed PKG: dpkg lists PKG as installed (any version).
deb_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" = "ii " ]
}

apt_install_missing() { # PKG...
  local missing=() p
  for p in "$@"; do
    deb_installed "$p" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "missing: ${missing[*]}; install them (or run this as root on Debian)" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  local stamp=/tmp/.mailwire-apt-updated updated=0
  if [ -z "$(find "$stamp" -mmin -60 2>/dev/null)" ]; then
    apt-get update -qq && touch "$stamp" && updated=1
  fi
  echo "== installing ${missing[*]} (apt-get --no-upgrade: only what is missing)"
  # A new package may need a newer version of an installed library; apt
  # then upgrades that library and nothing says so. Say so.
  apt_note_upgrades "${missing[@]}"
  if ! apt-get install -y -qq --no-install-recommends --no-upgrade "${missing[@]}" >/dev/null; then
    [ "$updated" = 0 ] || return 1
    # The package lists of an earlier update may be stale: refresh, retry.
    apt-get update -qq && touch "$stamp"
    apt-get install -y -qq --no-install-recommends --no-upgrade "${missing[@]}" >/dev/null
  fi
}

# apt_note_upgrades PKG...: prints the installed packages that installing
# PKG would upgrade as dependencies (a simulation: "Inst name [old] (new").
apt_note_upgrades() {
  apt-get -s install --no-install-recommends --no-upgrade "$@" 2>/dev/null |
    sed -n 's/^Inst \([^ ]*\) \[\([^]]*\)\] (\([^ ]*\).*/note: apt upgrades \1 \2 -> \3, a dependency of the new packages/p' || true
}
