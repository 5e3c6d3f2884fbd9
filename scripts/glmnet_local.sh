#!/usr/bin/env bash
# glmnet_local.sh: R and the glmnet package on this machine, the reference the
# glmnet parity tests (pytest -m glmnet, tests/glmnet_r.py) run through Rscript.
#
#   bash scripts/glmnet_local.sh install   # install if needed (as root); exit 0 once glmnet loads
#   bash scripts/glmnet_local.sh status    # R and glmnet versions; exit 0 if usable, 1 if not
#
# `install` does nothing when `Rscript -e 'library(glmnet)'` already works.
# Otherwise, on Debian/Ubuntu as root, it installs Debian's r-base-core and
# r-cran-glmnet with apt-get (Debian 12: R 4.2.2, glmnet 4.1-6; 22 packages,
# 55 MB to download, 140 MB installed; about 15 s from a fast mirror); as a
# non-root user it prints the command to run and exits 3.
#
# The tests need nothing else: their session fixture (tests/conftest.py,
# glmnet_r) runs `install` itself when the tests run as root, and fails the
# glmnet tests (never skips them) when glmnet still cannot be loaded.
#
# Concurrent installs run one at a time (flock on /tmp/glmnet_local.lock; apt-get
# also waits for the dpkg lock). Knob (environment): GLMNET_LOCAL_LOCK_TIMEOUT,
# seconds to wait for either lock (default 600).
set -euo pipefail

PROG=glmnet_local
PACKAGES=(r-base-core r-cran-glmnet)
LOCK_TIMEOUT=${GLMNET_LOCAL_LOCK_TIMEOUT:-600}
LOCK_FILE=/tmp/glmnet_local.lock

msg() { echo "$PROG: $*"; }
err() { echo "$PROG: $*" >&2; }

usage() {
    cat >&2 <<EOF
usage: $0 {install|status}
  install  install R and glmnet (Debian: ${PACKAGES[*]}) with apt-get as root, when missing
  status   print the R and glmnet versions; exit 0 if glmnet loads, 1 if not
EOF
    exit 2
}

# glmnet_loads: Rscript exists and loads glmnet.
glmnet_loads() {
    command -v Rscript >/dev/null 2>&1 &&
        Rscript --vanilla -e 'suppressMessages(library(glmnet))' >/dev/null 2>&1
}

versions() {
    Rscript --vanilla -e 'cat(R.version.string, "\n", "glmnet ",
        as.character(packageVersion("glmnet")), "\n", sep = "")' 2>&1
}

cmd_install() {
    if glmnet_loads; then
        msg "already installed: $(versions | tr '\n' ' ')"
        return 0
    fi
    if [[ $(id -u) -ne 0 ]]; then
        err "R with the glmnet package is missing (Rscript -e 'library(glmnet)' fails)"
        err "install the Debian/Ubuntu packages: ${PACKAGES[*]}, e.g."
        err "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${PACKAGES[*]}"
        err "or, with another R, in R: install.packages(\"glmnet\")"
        exit 3
    fi
    command -v apt-get >/dev/null 2>&1 || {
        err "glmnet is missing and there is no apt-get; install R and its glmnet package yourself"
        exit 3
    }
    # One install at a time (pytest-xdist workers each run the session fixture): the
    # others wait for it here, then find glmnet installed.
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$LOCK_FILE"
        flock -w "$LOCK_TIMEOUT" 9 || { err "another install holds $LOCK_FILE"; exit 1; }
        if glmnet_loads; then
            msg "installed meanwhile: $(versions | tr '\n' ' ')"
            return 0
        fi
    fi
    local t0=$SECONDS
    msg "installing ${PACKAGES[*]}"
    apt-get -o DPkg::Lock::Timeout="$LOCK_TIMEOUT" update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$LOCK_TIMEOUT" \
        install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
    if ! glmnet_loads; then
        err "glmnet still does not load after apt-get install:"
        Rscript --vanilla -e 'library(glmnet)' >&2 || true
        exit 1
    fi
    msg "installed in $((SECONDS - t0))s: $(versions | tr '\n' ' ')"
}

cmd_status() {
    if ! command -v Rscript >/dev/null 2>&1; then
        msg "no Rscript on PATH (run: sudo bash $0 install)"
        return 1
    fi
    if ! glmnet_loads; then
        msg "$(Rscript --vanilla -e 'cat(R.version.string)' 2>&1); glmnet does not load"
        return 1
    fi
    versions
}

[[ $# -eq 1 ]] || usage
case $1 in
    install) cmd_install ;;
    status) cmd_status ;;
    *) usage ;;
esac
