#!/usr/bin/env python3
"""Many gateways, one fleet, under faults (issue 14).

Starts a real PostgreSQL server (Debian's, in a temporary folder, as the `postgres` user), three `hearth gateway`
replicas on it, each with its own intermediate of one fleet root (`hearth ca`), HAProxy in front of them with deploy/haproxy/haproxy.cfg, and node agents
(simulated engine) that each keep tunnels to two replicas. A steady load of streaming and non-streaming requests goes
through HAProxy with the official `openai` client and its default retries, while the driver:
  1. revokes a node on one replica (it must lose its tunnels on all of them),
  2. kills the power coordinator's replica with SIGKILL,
  3. stops another replica with SIGTERM (it drains),
  4. restarts PostgreSQL,
and measures what the issue asks for.

Everything binds 127.0.0.1. Prints a table and writes --json; exits 1 when a target is missed.
"""
import argparse
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import openai


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, token=None, timeout=2):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except Exception as error:  # refused, reset, timed out
        return None, str(error)


def wait_for(what, check, timeout=60, every=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise SystemExit(f"replicas: timed out waiting for {what}")


class Postgres:
    def __init__(self, work):
        self.dir = os.path.join(work, "pg")
        os.makedirs(self.dir)
        self.bin = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))[-1]
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self.run([f"{self.bin}/initdb", "-D", f"{self.dir}/data", "-A", "trust", "-U", "hearth"], quiet=True)
        self.process = None

    def command(self, argv):
        return ["runuser", "-u", "postgres", "--"] + argv if self.as_postgres else argv

    def run(self, argv, quiet=False):
        subprocess.run(self.command(argv), check=True, stdout=subprocess.DEVNULL if quiet else None)

    def start(self):
        log = open(os.path.join(self.dir, "server.log"), "a")
        self.process = subprocess.Popen(
            self.command([f"{self.bin}/postgres", "-D", f"{self.dir}/data", "-p", str(self.port), "-k", self.dir,
                          "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on"]),
            stdout=log, stderr=log)
        wait_for("PostgreSQL", lambda: self.psql("SELECT 1", check=False) == "1")

    def stop(self):
        if self.process:
            # To the postmaster itself (runuser passes no signal on): a fast shutdown cuts every session.
            try:
                pid = int(open(f"{self.dir}/data/postmaster.pid").readline())
                os.kill(pid, signal.SIGINT)
            except (OSError, ValueError):
                self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=60)
            self.process = None

    def psql(self, sql, check=True):
        # The statement goes on standard input: a list of every request id is too long for an argument.
        result = subprocess.run(
            [f"{self.bin}/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "hearth", "-d", "postgres", "-At",
             "-v", "ON_ERROR_STOP=1"],
            input=sql, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise SystemExit(f"replicas: psql failed: {result.stderr}")
        return result.stdout.strip() if result.returncode == 0 else None

    @property
    def url(self):
        return f"postgres://hearth@127.0.0.1:{self.port}/postgres?sslmode=disable"


class Gateway:
    def __init__(self, index, hearth, work, store):
        self.index, self.hearth, self.store = index, hearth, store
        self.dir = os.path.join(work, f"gateway-{index}")
        os.makedirs(os.path.join(self.dir, "identity"))
        self.http, self.tunnel, self.metrics = free_port(), free_port(), free_port()
        self.process = None

    def start(self):
        log = open(os.path.join(self.dir, "gateway.log"), "a")
        self.process = subprocess.Popen(
            [self.hearth, "gateway", "--store", self.store, "--port", str(self.http), "--tunnel-port", str(self.tunnel),
             "--metrics-port", str(self.metrics), "--data-dir", self.dir, "--heartbeat-ms", "500", "--drain-seconds", "10",
             "--log-level", "notice"], stdout=log, stderr=log)
        wait_for(f"gateway {self.index}", lambda: http(f"http://127.0.0.1:{self.http}/readyz")[0] == 200)

    @property
    def alive(self):
        return self.process is not None and self.process.poll() is None

    @property
    def operator_key(self):
        return open(os.path.join(self.dir, "operator-key")).read().strip()

    def connected(self):
        """The nodes whose tunnel is up on this replica, or None when it does not answer."""
        status, body = http(f"http://127.0.0.1:{self.http}/admin/nodes", self.operator_key)
        if status != 200:
            return None
        return {node["id"] for node in json.loads(body) if node["state"] == "connected"}

    def trust(self, node):
        status, body = http(f"http://127.0.0.1:{self.http}/admin/nodes", self.operator_key)
        if status != 200:
            return None
        return next((n["trust"] for n in json.loads(body) if n["id"] == node), None)

    def coordinates(self):
        status, body = http(f"http://127.0.0.1:{self.metrics}/metrics")
        return status == 200 and any(line.split()[-1] in ("1", "1.0") for line in body.splitlines()
                                     if line.startswith("hearth_power_coordinator "))


class Load:
    """Worker threads sending chat requests through HAProxy with the official client (default retries)."""

    def __init__(self, base_url, key, workers):
        self.client = openai.OpenAI(base_url=base_url, api_key=key, timeout=60)
        self.results = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.work, args=(i,), daemon=True) for i in range(workers)]

    def start(self):
        for thread in self.threads:
            thread.start()

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=90)

    def work(self, index):
        n = 0
        while not self.stopping.is_set():
            n += 1
            stream = (index + n) % 2 == 0
            started = time.monotonic()
            record = {"stream": stream, "started": started, "ok": False, "request_id": None, "error": None}
            messages = [{"role": "user", "content": f"worker {index} request {n}: say something"}]
            try:
                if stream:
                    with self.client.chat.completions.with_streaming_response.create(
                            model="sim-model", messages=messages, stream=True, max_tokens=24) as response:
                        record["request_id"] = response.headers.get("x-request-id")
                        for _ in response.parse():
                            pass
                    record["ok"] = True  # the client read the stream to its end ([DONE])
                else:
                    raw = self.client.chat.completions.with_raw_response.create(
                        model="sim-model", messages=messages, max_tokens=24)
                    record["request_id"] = raw.headers.get("x-request-id")
                    raw.parse()
                    record["ok"] = True
            except Exception as error:
                record["error"] = f"{type(error).__name__}: {error}"[:300]
            record["ended"] = time.monotonic()
            with self.lock:
                self.results.append(record)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hearth", required=True)
    parser.add_argument("--haproxy-config", required=True)
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--phase-seconds", type=float, default=6)
    parser.add_argument("--json")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="hearth-replicas.")
    os.chmod(work, 0o755)
    processes = []
    pg = None
    ok = False
    try:
        pg = Postgres(work)
        pg.start()
        gateways = [Gateway(i + 1, args.hearth, work, pg.url) for i in range(3)]
        # The fleet root stays out of every replica's folder (offline); each replica gets its own intermediate.
        root = os.path.join(work, "root")
        subprocess.run([args.hearth, "ca", "init", "--dir", root], check=True, capture_output=True)
        for gateway in gateways:
            subprocess.run([args.hearth, "ca", "intermediate", "--root-dir", root, "--out", os.path.join(gateway.dir, "identity"),
                            "--name", f"gateway-{gateway.index}"], check=True, capture_output=True)
            gateway.start()

        proxy_port = free_port()
        config = open(args.haproxy_config).read().replace("bind :8080", f"bind 127.0.0.1:{proxy_port}")
        config = "\n".join(line for line in config.splitlines() if not line.strip().startswith("server "))
        config += "\n" + "".join(f"    server gateway-{g.index} 127.0.0.1:{g.http} check\n" for g in gateways)
        with open(os.path.join(work, "haproxy.cfg"), "w") as f:
            f.write(config)
        haproxy_log = open(os.path.join(work, "haproxy.log"), "w")
        haproxy = subprocess.Popen(["haproxy", "-db", "-f", os.path.join(work, "haproxy.cfg")], stdout=haproxy_log,
                                   stderr=haproxy_log)
        processes.append(haproxy)

        created = subprocess.run([args.hearth, "keys", "create", "--store", pg.url, "--tenant", "replicas"],
                                 capture_output=True, text=True, check=True).stdout
        key = next(word for word in created.split() if word.startswith("hearth-"))

        tunnels = ",".join(f"127.0.0.1:{g.tunnel}" for g in gateways)
        nodes = [f"node-{i + 1}" for i in range(args.nodes)]
        for node in nodes:
            token = subprocess.run(
                [args.hearth, "nodes", "enroll-token", "--node", node, "--gateway", f"http://127.0.0.1:{gateways[0].http}",
                 "--data-dir", gateways[0].dir], capture_output=True, text=True, check=True).stdout
            token = next(word for word in token.split() if word.startswith("hearth-enroll-"))
            node_dir = os.path.join(work, node)
            log = open(node_dir + ".log", "w")
            processes.append(subprocess.Popen(
                [args.hearth, "node", "--gateway", tunnels, "--gateway-connections", "2", "--node-id", node,
                 "--data-dir", node_dir, "--enroll-token", token, "--gateway-url", f"http://127.0.0.1:{gateways[0].http}",
                 "--engine", "sim", "--model-name", "sim-model", "--log-level", "notice"], stdout=log, stderr=log))

        def tunnels_up(replicas):
            seen = [g.connected() for g in replicas]
            return None if any(s is None for s in seen) else seen

        wait_for("every node on two replicas",
                 lambda: (lambda seen: seen and sum(len(s) for s in seen) == 2 * len(nodes))(tunnels_up(gateways)))
        wait_for("HAProxy", lambda: http(f"http://127.0.0.1:{proxy_port}/readyz")[0] == 200)
        coordinator = wait_for("a power coordinator", lambda: next((g for g in gateways if g.coordinates()), None))

        load = Load(f"http://127.0.0.1:{proxy_port}/v1", key, args.workers)
        load.start()
        phase = args.phase_seconds
        time.sleep(phase)
        figures = {}

        # 1. A revocation on one replica: the node must lose its tunnels on every replica, and be revoked in each one's
        # memory (they learn it from the store's notification, not from a restart).
        revoked = nodes[-1]
        revoked_at = time.monotonic()
        subprocess.run([args.hearth, "nodes", "revoke", revoked, "--gateway", f"http://127.0.0.1:{gateways[2].http}",
                        "--data-dir", gateways[2].dir], check=True, capture_output=True)

        def revoked_everywhere():
            return all(g.trust(revoked) == "revoked" and revoked not in (g.connected() or {revoked}) for g in gateways)

        wait_for("the revocation on every replica", revoked_everywhere, timeout=30, every=0.01)
        figures["revocation_on_every_replica_s"] = round(time.monotonic() - revoked_at, 3)
        serving = nodes[:-1]

        # A tenant limited to 60 requests a minute, sent 120 through HAProxy (plain HTTP, no client retries): the three
        # replicas each enforce their share, so the fleet admits at most 60 + 2.
        limited = subprocess.run([args.hearth, "keys", "create", "--store", pg.url, "--tenant", "limited", "--rpm", "60"],
                                 capture_output=True, text=True, check=True).stdout
        limited_key = next(word for word in limited.split() if word.startswith("hearth-"))
        body = json.dumps({"model": "sim-model", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}).encode()
        admitted = 0
        for _ in range(120):
            request = urllib.request.Request(f"http://127.0.0.1:{proxy_port}/v1/chat/completions", data=body, headers={
                "Authorization": f"Bearer {limited_key}", "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    admitted += response.status == 200
            except urllib.error.HTTPError:
                pass
        figures["tenant_limit_60_rpm_admitted_of_120"] = admitted
        time.sleep(phase)

        # 2. SIGKILL of the coordinator's replica.
        killed = coordinator
        killed_at = time.monotonic()
        killed.process.send_signal(signal.SIGKILL)
        killed.process.wait()
        survivors = [g for g in gateways if g is not killed]
        wait_for("a new power coordinator", lambda: any(g.coordinates() for g in survivors), timeout=30)
        figures["coordinator_failover_s"] = round(time.monotonic() - killed_at, 2)

        def every_node_on_survivors(replicas, tunnels_each):
            seen = tunnels_up(replicas)
            if not seen:
                return False
            return all(sum(node in s for s in seen) >= tunnels_each for node in serving)

        wait_for("every node on a surviving replica", lambda: every_node_on_survivors(survivors, 1), timeout=30)
        figures["killed_replica_was_the_coordinator"] = True
        figures["all_nodes_serving_on_survivors_s"] = round(time.monotonic() - killed_at, 2)
        wait_for("every node back to two tunnels", lambda: every_node_on_survivors(survivors, 2), timeout=30)
        figures["all_nodes_two_tunnels_again_s"] = round(time.monotonic() - killed_at, 2)
        time.sleep(phase)

        # 3. SIGTERM of another replica: it drains.
        drained = survivors[0]
        drained_at = time.monotonic()
        drained.process.send_signal(signal.SIGTERM)
        drained.process.wait(timeout=60)
        figures["drain_exit_s"] = round(time.monotonic() - drained_at, 2)
        last = survivors[1]
        time.sleep(phase)

        # 4. PostgreSQL restarts under load.
        restarted_at = time.monotonic()
        pg.stop()
        pg.start()
        figures["database_down_s"] = round(time.monotonic() - restarted_at, 2)
        time.sleep(phase)

        time.sleep(phase / 2)
        load.stop()

        results = load.results
        plain = [r for r in results if not r["stream"]]
        streams = [r for r in results if r["stream"]]
        failed_plain = [r for r in plain if not r["ok"]]
        cut = [r for r in streams if not r["ok"]]
        # Cut streams: those that ran across the SIGKILL are expected; any other is a failure.
        cut_elsewhere = [r for r in cut if not (r["started"] <= killed_at + 0.05 and r["ended"] >= killed_at - 0.05)]
        completed = [r["request_id"] for r in results if r["ok"] and r["request_id"]]
        time.sleep(2)  # the replicas' ledgers flush every 250 ms; a batch refused while the database was down is retried
        ids = ",".join("'" + i.replace("'", "") + "'" for i in completed) or "''"
        stored_ids = set((pg.psql(f"SELECT DISTINCT request_id FROM usage WHERE request_id IN ({ids})") or "").split())
        stored = len(stored_ids)
        with open(os.path.join(work, "results.json"), "w") as f:
            json.dump({"missing": [i for i in completed if i not in stored_ids], "results": results, "killed_at": killed_at}, f)
        figures.update({
            "requests": len(results),
            "non_streaming": len(plain),
            "non_streaming_failed": len(failed_plain),
            "streams": len(streams),
            "streams_cut": len(cut),
            "streams_cut_not_on_the_killed_replica": len(cut_elsewhere),
            "completed_without_usage_row": len(completed) - stored,
            "duplicated_usage_rows": int(pg.psql("SELECT count(*) - count(DISTINCT request_id) FROM usage")),
        })
        print("replicas: " + json.dumps(figures, indent=1))
        for r in (failed_plain + cut_elsewhere)[:10]:
            print(f"replicas: failed request: stream={r['stream']} error={r['error']}", file=sys.stderr)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(figures, f, indent=1)
        ok = (figures["non_streaming_failed"] == 0 and figures["streams_cut_not_on_the_killed_replica"] == 0
              and figures["completed_without_usage_row"] == 0 and figures["duplicated_usage_rows"] == 0
              and figures["tenant_limit_60_rpm_admitted_of_120"] <= 62)
        return 0 if ok else 1
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        for gateway in locals().get("gateways", []):
            if gateway.alive:
                gateway.process.send_signal(signal.SIGTERM)
                try:
                    gateway.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    gateway.process.kill()
        if pg:
            pg.stop()
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"replicas: logs in {work}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
