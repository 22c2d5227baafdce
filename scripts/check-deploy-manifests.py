"""Checks deploy/kubernetes and deploy/container against the hearth binary they run (called by check-deploy.sh).

usage: check-deploy-manifests.py HEARTH_BIN RENDERED_KUSTOMIZE_YAML
- every flag the gateway Deployment and the images pass exists in `hearth gateway --help` / `hearth node --help`
  (a renamed flag breaks the manifests here, not in a cluster);
- the readiness probe is /readyz (it turns 503 when a drain starts), liveness and startup /healthz (a draining replica
  stays alive), and the grace period outlasts --drain-seconds;
- the Containerfile's stages exist where COPY --from names them, and the gateway and node targets are there.
The schema check itself is kubernetes-validate's (check-deploy.sh runs it).
"""
import re
import subprocess
import sys

import yaml
from dockerfile_parse import DockerfileParser

hearth, rendered = sys.argv[1:3]
failures = []


def flags(subcommand):
    text = subprocess.run([hearth, subcommand, "--help"], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", text))


def check_flags(where, arguments, known):
    for argument in arguments:
        if argument.startswith("--"):
            name = argument.split("=", 1)[0]
            if name not in known:
                failures.append(f"{where}: {name} is not a flag of this hearth")


gateway_flags, node_flags = flags("gateway"), flags("node")

documents = [d for d in yaml.safe_load_all(open(rendered)) if d]
deployments = [d for d in documents if d.get("kind") == "Deployment"]
if len(deployments) != 1:
    failures.append(f"expected one Deployment, found {len(deployments)}")
for deployment in deployments:
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    arguments = container.get("args", [])
    check_flags("Deployment args", arguments, gateway_flags)
    if container.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
        failures.append("the readiness probe must be /readyz (it reflects the drain)")
    for probe in ("livenessProbe", "startupProbe"):
        if container.get(probe, {}).get("httpGet", {}).get("path") != "/healthz":
            failures.append(f"the {probe} must be /healthz (a draining replica is alive)")
    drain = next((float(a.split("=", 1)[1]) for a in arguments if a.startswith("--drain-seconds=")), 30.0)
    if pod.get("terminationGracePeriodSeconds", 30) <= drain:
        failures.append("terminationGracePeriodSeconds must outlast --drain-seconds")
    ports = {p["name"] for p in container.get("ports", [])}
    for service in (d for d in documents if d.get("kind") == "Service"):
        for port in service["spec"]["ports"]:
            if port.get("targetPort") not in ports:
                failures.append(f"Service {service['metadata']['name']}: targetPort {port.get('targetPort')} is no container port")

parser = DockerfileParser(fileobj=open("deploy/container/Containerfile", "rb"))
stages = set()
for instruction in parser.structure:
    if instruction["instruction"] == "FROM":
        parts = instruction["value"].split()
        if len(parts) == 3 and parts[1].upper() == "AS":
            stages.add(parts[2])
        base = parts[0]
        if base not in stages and "/" not in base:
            failures.append(f"Containerfile: FROM {base} is neither a stage nor a registry image")
    if instruction["instruction"] == "COPY":
        source = re.search(r"--from=(\S+)", instruction["value"])
        if source and source.group(1) not in stages:
            failures.append(f"Containerfile: COPY --from={source.group(1)} names no earlier stage")
for target in ("gateway", "node"):
    if target not in stages:
        failures.append(f"Containerfile: no '{target}' target")
current = None
for instruction in parser.structure:
    if instruction["instruction"] == "FROM":
        current = instruction["value"].split()[-1]
    if instruction["instruction"] == "CMD" and current in ("gateway", "node"):
        check_flags(f"Containerfile {current} CMD", re.findall(r'"(--[^"]+)"', instruction["value"]), gateway_flags if current == "gateway" else node_flags)

if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
print(f"deploy manifests: {len(documents)} Kubernetes objects and {len(stages)} image stages agree with {hearth}")
