#!/usr/bin/env bash
# Checks what deploy/ gives operators: the systemd units (systemd-analyze verify, with the ExecStart binary pointed
# at this build), the HAProxy configuration (haproxy -c), the Prometheus configuration and alert rules (promtool) and the
# Grafana dashboard (valid JSON), the Kubernetes manifests (kubernetes-validate, and their flags and probes against this
# binary) and the Containerfile's stages. Run by scripts/test.sh.
#   scripts/check-deploy.sh [path/to/hearth]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-$(pwd)/.build/debug/hearth}"
[ -x "$BIN" ] || { echo "[check-deploy] no hearth binary at $BIN (swift build first)" >&2; exit 1; }
work="$(mktemp -d /tmp/hearth-deploy.XXXXXX)"
trap 'rm -rf "$work"' EXIT
for unit in deploy/systemd/*.service; do
  sed "s#/usr/local/bin/hearth#$BIN#g" "$unit" >"$work/$(basename "$unit")"
done
# verify prints problems and exits non-zero on errors; warnings are failures here too.
out="$(systemd-analyze verify "$work"/*.service 2>&1 || echo "systemd-analyze failed")"
if [ -n "$out" ]; then echo "$out" >&2; echo "[check-deploy] systemd units: FAILED" >&2; exit 1; fi
echo "[check-deploy] systemd units: ok" >&2
haproxy -c -q -f deploy/haproxy/haproxy.cfg
echo "[check-deploy] haproxy.cfg: ok" >&2
promtool check config deploy/prometheus/prometheus.yml >/dev/null
promtool check rules deploy/prometheus/hearth-alerts.yml >/dev/null
echo "[check-deploy] prometheus.yml and hearth-alerts.yml: ok" >&2
python3 -m json.tool deploy/grafana/hearth-fleet.json >/dev/null
echo "[check-deploy] grafana dashboard: ok" >&2
# Kubernetes manifests and the Containerfile: the objects kustomize renders, validated against Kubernetes' own schemas
# (kubernetes-validate, strict: unknown fields fail), then checked against this binary's flags and the drain's probes.
PY="${HEARTH_PYTHON:-$HOME/.cache/hearth/venv/bin/python}"
if command -v kubectl >/dev/null; then
  kubectl kustomize deploy/kubernetes >"$work/kubernetes.yaml"
else
  # Without kubectl: the resources as written (kustomize only adds the namespace and labels).
  "$PY" - "$work/kubernetes.yaml" <<'PYEOF'
import sys, yaml
resources = yaml.safe_load(open("deploy/kubernetes/kustomization.yaml"))["resources"]
with open(sys.argv[1], "w") as out:
    out.write("\n---\n".join(open("deploy/kubernetes/" + name).read() for name in resources))
PYEOF
fi
"$(dirname "$PY")/kubernetes-validate" --strict --quiet "$work/kubernetes.yaml"
"$PY" scripts/check-deploy-manifests.py "$BIN" "$work/kubernetes.yaml" >&2
echo "[check-deploy] kubernetes manifests and Containerfile: ok" >&2
