#!/usr/bin/env bash
# chromium_local.sh: headless Chromium on this machine, the browser the documentation
# site's test (tests/test_docs_site.py) opens the built pages in.
#
#   bash scripts/chromium_local.sh install   # install if needed (as root); exit 0 once it runs
#   bash scripts/chromium_local.sh status    # its version; exit 0 if usable, 1 if not
#
# `install` does nothing when `chromium --version` already works. Otherwise, on
# Debian/Ubuntu as root, it installs Debian's `chromium` with apt-get (Debian 12:
# about 100 MB to download); as a non-root user it prints the command and exits 3.
# The test's session fixture runs `install` itself when the tests run as root, and
# fails (never skips) when Chromium still does not run.
#
# Concurrent installs run one at a time (flock on /tmp/chromium_local.lock; apt-get
# also waits for the dpkg lock, up to CHROMIUM_LOCAL_LOCK_TIMEOUT seconds, default 600).
set -euo pipefail

PROG=chromium_local
LOCK_TIMEOUT=${CHROMIUM_LOCAL_LOCK_TIMEOUT:-600}

msg() { echo "$PROG: $*"; }
err() { echo "$PROG: $*" >&2; }

runs() { command -v chromium >/dev/null 2>&1 && chromium --headless --version >/dev/null 2>&1; }

cmd_install() {
    if runs; then
        msg "already installed: $(chromium --version)"
        return 0
    fi
    if [[ $(id -u) -ne 0 ]]; then
        err "chromium is missing; install it, e.g.: sudo apt-get update && sudo apt-get install -y chromium"
        exit 3
    fi
    command -v apt-get >/dev/null 2>&1 || { err "chromium is missing and there is no apt-get"; exit 3; }
    exec 9>/tmp/chromium_local.lock
    flock -w "$LOCK_TIMEOUT" 9 || { err "another install holds /tmp/chromium_local.lock"; exit 1; }
    if runs; then
        msg "installed meanwhile: $(chromium --version)"
        return 0
    fi
    local t0=$SECONDS
    msg "installing chromium"
    apt-get -o DPkg::Lock::Timeout="$LOCK_TIMEOUT" update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$LOCK_TIMEOUT" \
        install -y -qq --no-install-recommends chromium >/dev/null
    runs || { err "chromium does not run after apt-get install"; exit 1; }
    msg "installed in $((SECONDS - t0))s: $(chromium --version)"
}

case ${1:-} in
    install) cmd_install ;;
    status) runs && chromium --version || { msg "no working chromium"; exit 1; } ;;
    *) echo "usage: $0 {install|status}" >&2; exit 2 ;;
esac
