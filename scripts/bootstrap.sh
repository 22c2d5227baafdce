#!/usr/bin/env bash
# Installs the Debian packages Hearth needs (SQLite headers for GRDB; libmosquitto for the panel client and the
# mosquitto broker its tests start; PostgreSQL for the shared fleet store's tests), only when missing.
set -euo pipefail
need=()
dpkg -s libmosquitto-dev >/dev/null 2>&1 || need+=(libmosquitto-dev)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
dpkg -s libsqlite3-dev >/dev/null 2>&1 || need+=(libsqlite3-dev)
# PostgreSQL: the fleet store's tests start their own server from Debian's binaries (/usr/lib/postgresql/N/bin).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# HAProxy: deploy/haproxy/haproxy.cfg is checked with it, and the drain test runs gateways behind it.
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
# Prometheus: promtool checks deploy/prometheus, and a test has a real Prometheus scrape a gateway.
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# systemd-analyze checks deploy/systemd's units.
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# ip netns and tc for the chaos harness (scripts/chaos), which CI runs when it is root.
command -v ip >/dev/null 2>&1 && command -v tc >/dev/null 2>&1 || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  echo "[bootstrap] installing ${need[*]}" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq "${need[@]}" >/dev/null; fi
fi
