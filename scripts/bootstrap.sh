# shellcheck shell=bash
# Sourced by scripts/test and scripts/demo: what they need on a Debian/Ubuntu machine,
# installed only when missing (`apt-get update` at most once), and the project's virtualenv.
# Never stops or reconfigures the machine's own Mosquitto or PostgreSQL services: the tests
# and the demo start private servers of their own on free ports.

rg_say() { printf '%s\n' "==> $*" >&2; }
rg_die() { printf '%s\n' "error: $*" >&2; exit 1; }

# rg_quiet CMD...: run CMD with its output held back; shown only if it fails.
rg_quiet() {
  local log status=0
  log=$(mktemp)
  "$@" >"$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    cat "$log" >&2
  fi
  rm -f "$log"
  return "$status"
}

# Run a command as root: directly when we are root, else through sudo.
rg_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    rg_die "installing system packages needs root or sudo; run as root, or install them by hand"
  fi
}

RG_APT_UPDATED=""

# rg_apt_install PKG...: quiet apt-get install (errors still shown on stderr).
rg_apt_install() {
  [ "$#" -gt 0 ] || return 0
  command -v apt-get >/dev/null 2>&1 \
    || rg_die "missing system packages: $*; this script installs them with apt-get (Debian 12); install them by hand"
  rg_say "installing system packages: $*"
  if [ -z "$RG_APT_UPDATED" ]; then
    rg_quiet rg_root env DEBIAN_FRONTEND=noninteractive apt-get update -q \
      || rg_die "apt-get update failed"
    RG_APT_UPDATED=1
  fi
  rg_quiet rg_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
    || rg_die "apt-get install $* failed"
}

rg_have() { command -v "$1" >/dev/null 2>&1; }

# The names of the missing packages among the ones the given features need, on stdout.
# Features: broker (mosquitto), broker-clients (mosquitto_sub/pub, for bench/), postgres (server
# binaries and psql), node (nodejs + npm, for the TimescaleDB test group), openssl (the command, which
# the TLS tests use to make throw-away certificates), browser (Debian's chromium and CJK fonts, for
# the dashboard's browser tests), python (3.11 + venv).
rg_missing_packages() {
  local feature
  for feature in "$@"; do
    case "$feature" in
      broker)
        rg_have mosquitto || [ -x /usr/sbin/mosquitto ] || echo mosquitto
        ;;
      broker-clients)
        rg_have mosquitto_sub || echo mosquitto-clients
        ;;
      postgres)
        compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || echo postgresql
        ;;
      node)
        rg_have node || echo nodejs
        rg_have npm || echo npm
        ;;
      openssl)
        rg_have openssl || echo openssl
        ;;
      browser)
        # Debian's Chromium for the browser tests (Playwright drives it; it never downloads one).
        [ -x /usr/bin/chromium ] || echo chromium
        # CJK fonts, so that pages and screenshots show Chinese site names, not boxes.
        compgen -G '/usr/share/fonts/opentype/noto/NotoSansCJK*' >/dev/null || echo fonts-noto-cjk
        ;;
      pdf)
        # The annual report's PDF (weasyprint renders with Pango), its Chinese text (Noto CJK), and
        # pdftoppm/pdftotext, with which the tests look at the pages.
        rg_have pdftoppm || echo poppler-utils
        compgen -G '/usr/lib/*/libpango-1.0.so.0' >/dev/null || echo libpango-1.0-0
        compgen -G '/usr/lib/*/libpangoft2-1.0.so.0' >/dev/null || echo libpangoft2-1.0-0
        compgen -G '/usr/share/fonts/opentype/noto/NotoSansCJK*' >/dev/null || echo fonts-noto-cjk
        ;;
      python)
        if [ ! -x .venv/bin/python ]; then
          rg_have python3.11 || echo python3.11
          # Debian splits venv/ensurepip out of the interpreter package.
          if ! rg_have python3.11 || ! python3.11 -c 'import ensurepip, venv' >/dev/null 2>&1; then
            echo python3.11-venv
          fi
        fi
        ;;
      *) rg_die "bootstrap: unknown feature $feature" ;;
    esac
  done
}

# rg_system_deps FEATURE...: install whatever those features lack, with one apt-get update.
rg_system_deps() {
  local missing
  missing=$(rg_missing_packages "$@" | sort -u | tr '\n' ' ')
  # shellcheck disable=SC2086  # word splitting intended: a list of package names
  rg_apt_install $missing
}

# rg_venv EXTRAS: create .venv with Python 3.11 if missing and `pip install -e .[EXTRAS]`,
# skipped when pyproject.toml has not changed since the last successful install.
rg_venv() {
  local spec="." stamp=".venv/.relic-guard-install" want
  [ -n "${1:-}" ] && spec=".[$1]"
  if [ ! -x .venv/bin/python ]; then
    rg_say "creating .venv (Python 3.11)"
    rg_quiet python3.11 -m venv .venv || rg_die "python3.11 -m venv .venv failed"
  fi
  .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || rg_die ".venv is not Python 3.11 ($(.venv/bin/python -V 2>&1)); remove it and run again"
  want="$spec $(sha256sum pyproject.toml | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  rg_say "pip install -e '$spec'"
  rg_quiet .venv/bin/python -m pip install --disable-pip-version-check --no-input -e "$spec" \
    || rg_die "pip install -e '$spec' failed"
  printf '%s\n' "$want" >"$stamp"
}
