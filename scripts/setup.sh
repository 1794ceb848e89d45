#!/usr/bin/env bash
# Installs what cni-ts needs on a Debian machine (run as root), touching only what is missing:
#   - Debian packages: the kernel tools the plugins drive, and the reference plugins used as the
#     test oracle (apt-get update runs only when something has to be installed);
#   - node modules (`npm ci` when node_modules is missing or older than package-lock.json).
# Shared by the README quick start and .ci/run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# gcc, make, libc6-dev, xz-utils: the standalone build compiles QuickJS and lib/platform/qjs/host.c;
# gcc-aarch64-linux-gnu, libc6-dev-arm64-cross: its arm64 build (a cross compiler on x86-64);
# qemu-user-static: runs that arm64 executable in the tests (explicitly; nothing is registered).
# conntrack: portmap's Node build removes stale UDP conntrack entries with it (the standalone build uses ctnetlink).
# bird2: the cross-node routing test runs BIRD (examples/bird/) inside its own node namespaces.
PACKAGES=(iproute2 util-linux procps iptables nftables conntrack iputils-ping containernetworking-plugins containerd runc busybox-static
  strace gcc make libc6-dev xz-utils gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static bird2)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# Debian's bird2 starts a system BIRD in the machine's own namespace (systemd unit or init script;
# not where policy-rc.d forbids it) whose default config syncs its tables with the machine's routes.
# The tests run their own BIRDs inside the namespaces they create and never use this one: when this
# script is what installed bird2, the system daemon is stopped and disabled. It is stopped through
# systemd or its own control socket, so no other bird process is touched (the init script's `stop`
# would kill every process named bird). An operator's bird2 installed before is left alone.
quiet_system_bird() {
  if [[ -d /run/systemd/system ]]; then
    systemctl disable --now bird.service >/dev/null 2>&1 || true
  else
    update-rc.d bird disable >/dev/null 2>&1 || true
    if [[ -S /run/bird/bird.ctl ]]; then birdc -s /run/bird/bird.ctl down >/dev/null 2>&1 || true; fi
  fi
  echo "setup: the system bird service (machine's namespace) is stopped and disabled; the tests run their own" >&2
}

missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages (${missing[*]}); run as root to install them" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [[ " ${missing[*]} " == *" bird2 "* ]]; then quiet_system_bird; fi
fi

# Node >= 20 runs the plugins and the tests (Debian 12's own nodejs is 18, too old).
if ! command -v node >/dev/null || ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  echo "setup: Node.js >= 20 is required (found: $(node --version 2>/dev/null || echo none));" \
    "install it (the Node.js project's release packages, or a newer Debian's nodejs), then rerun" >&2
  exit 1
fi

# npm records what it installed in node_modules/.package-lock.json: reinstall when the lock file is newer.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
