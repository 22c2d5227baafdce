#!/usr/bin/env python3
"""Chaos load driver: starts a Hearth fleet in the namespaces run.sh made, runs a steady
streaming load, injects one fault per phase, and checks every stream (stdlib only).

It runs inside the gateway's namespace (the client API is on its loopback) and starts
each node's processes with `ip netns exec`. Per phase it reports requests sent,
completed, failed over (the fleet store's `usage.attempts`), failed, malformed SSE,
and text that is duplicated, lost or diverged against a fault-free reference run.
"""
import argparse
import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GW_ADDR = "10.77.0.1"  # the gateway's address on the namespaces' bridge (run.sh)
API_PORT, TUNNEL_PORT, PROXY_PORT, ENGINE_PORT = 8080, 7070, 7000, 9000
# Home-like link through each node's proxy: one-way delay and jitter, ms (RTT ≈ 2 × delay).
LINK = "set delay=12 jitter=4 loss=0 rate=0"


def log(*parts):
    print(time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


# MARK: processes

class Fleet:
    """The gateway, and per node: fault proxy, engine (fake) and node agent."""

    def __init__(self, args):
        self.args, self.work = args, args.work
        self.nodes = [f"n{i}" for i in range(1, args.nodes + 1)]
        self.procs: dict[str, subprocess.Popen] = {}
        self.model = {"fake": "chaos-fake", "sim": "chaos-sim", "llama": "smollm2-135m-instruct"}[args.engine]
        self.key = ""

    def spawn(self, name: str, argv: list[str], ns: str | None = None):
        if ns:
            argv = ["ip", "netns", "exec", f"{self.args.prefix}-{ns}", *argv]  # exec's in place: the pid is the program's
        out = open(os.path.join(self.work, f"{name}.log"), "ab")
        self.procs[name] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self, name: str, sig=signal.SIGKILL):
        proc = self.procs.get(name)
        if proc and proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def start_gateway(self):
        # The API listens on the bridge too, only so that nodes can enroll (once) at http://GW_ADDR:API_PORT; their
        # tunnels still go through the fault proxies. Node tunnels are mutual TLS, as in production.
        self.spawn("gateway", [self.args.hearth, "gateway", "--host", "0.0.0.0", "--port", str(API_PORT),
                               "--tunnel-host", GW_ADDR, "--tunnel-port", str(TUNNEL_PORT),
                               "--data-dir", os.path.join(self.work, "gw"), "--heartbeat-ms", str(self.args.heartbeat_ms),
                               *(["--hedge"] if self.args.hedge else [])])

    def start_proxy(self, node: str):
        self.spawn(f"proxy-{node}", [sys.executable, os.path.join(HERE, "faultproxy.py"), "--listen", f"127.0.0.1:{PROXY_PORT}",
                                     "--upstream", f"{GW_ADDR}:{TUNNEL_PORT}", "--control", self.control(node),
                                     "--seed", node[1:]], ns=node)

    def start_engine(self, node: str):
        if self.args.engine == "fake":
            self.spawn(f"engine-{node}", [sys.executable, os.path.join(HERE, "fakeengine.py"), "--port", str(ENGINE_PORT),
                                          "--model", self.model, "--token-ms", str(self.args.token_ms)], ns=node)

    def start_node(self, node: str):
        engine = {"fake": ["--engine", "openai", "--engine-urls", f"http://127.0.0.1:{ENGINE_PORT}"],
                  "sim": ["--engine", "sim", "--sim-gpu", "l4", "--model-name", self.model],
                  "llama": ["--engine", "llama", "--model-name", self.model]}[self.args.engine]
        data_dir = os.path.join(self.work, f"node-{node}")
        enroll = []
        if not os.path.exists(data_dir):  # first start: enroll with a one-time token; restarts reuse the credentials
            token = subprocess.run([self.args.hearth, "nodes", "enroll-token", "--node", node,
                                    "--gateway", f"http://127.0.0.1:{API_PORT}", "--data-dir", os.path.join(self.work, "gw")],
                                   check=True, capture_output=True, text=True).stdout.strip()
            enroll = ["--enroll-token", token, "--gateway-url", f"http://{GW_ADDR}:{API_PORT}"]
        self.spawn(f"node-{node}", [self.args.hearth, "node", "--gateway", f"127.0.0.1:{PROXY_PORT}", "--node-id", node,
                                    "--data-dir", data_dir, *enroll, "--slots", str(self.args.slots), *engine], ns=node)

    def kill_engine(self, node: str) -> str:
        if self.args.engine == "fake":
            self.kill(f"engine-{node}")
            return "SIGKILL fake engine"
        if self.args.engine == "llama":  # the agent's llama-server child; the agent's supervisor restarts it
            agent = self.procs[f"node-{node}"].pid
            children = [int(c) for t in os.listdir(f"/proc/{agent}/task")
                        for c in open(f"/proc/{agent}/task/{t}/children").read().split()]
            for child in children:
                os.kill(child, signal.SIGKILL)
            return f"SIGKILL llama-server {children}"
        return "n/a: the sim engine runs inside the agent"

    def operator(self) -> dict:
        """/metrics on the API port is for operators: the gateway's operator key (it writes the file at start)."""
        with open(os.path.join(self.work, "gw", "operator-key")) as f:
            return {"Authorization": f"Bearer {f.read().strip()}"}

    def control(self, node: str) -> str:
        return os.path.join(self.work, f"proxy-{node}.sock")

    async def proxy(self, node: str, command: str) -> dict:
        reader, writer = await asyncio.open_unix_connection(self.control(node))
        writer.write(command.encode() + b"\n")
        reply = json.loads(await reader.readline())
        writer.close()
        return reply

    async def wait_for(self, what: str, check, timeout: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                if await check():
                    return time.monotonic() - started
            except (OSError, ValueError, asyncio.IncompleteReadError):
                pass
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{what} not within {timeout:.0f} s (logs in {self.work})")

    async def api_up(self) -> bool:
        status, _, _, _, _ = await http("GET", "/metrics", headers=self.operator(), timeout=5)
        return status == 200

    async def connected(self) -> int:
        status, _, body, _, _ = await http("GET", "/metrics", headers=self.operator(), timeout=5)
        match = re.search(rb"^hearth_nodes_connected (\S+)", body, re.M)
        return int(float(match.group(1))) if status == 200 and match else 0

    async def failovers(self) -> int:
        """The gateway's own count of retries and failovers (hearth_failovers_total, all reasons)."""
        _, _, body, _, _ = await http("GET", "/metrics", headers=self.operator(), timeout=5)
        return int(sum(float(v) for v in re.findall(rb"^hearth_failovers_total\S* (\S+)", body, re.M)))

    async def models_served(self) -> bool:
        status, _, body, _, _ = await http("GET", "/v1/models", headers={"Authorization": f"Bearer {self.key}"}, timeout=5)
        return status == 200 and self.model.encode() in body

    async def admitting(self) -> int:
        """Nodes the scheduler places new work on (a node drains itself while its link is degraded, and is let
        back only after a minute of good link), from the operator API."""
        key = open(os.path.join(self.work, "gw", "operator-key")).read().strip()
        status, _, body, _, _ = await http("GET", "/admin/nodes", headers={"Authorization": f"Bearer {key}"}, timeout=5)
        return sum(1 for node in json.loads(body) if node.get("admitting")) if status == 200 else 0

    async def all_up(self, timeout: float = 180) -> float:
        """Waits until every node is connected, admitting and the model is served (each fault starts from a whole
        fleet); returns the seconds it took."""
        async def ready():
            n = len(self.nodes)
            return await self.connected() == n and await self.models_served() and await self.admitting() == n
        return await self.wait_for(f"{len(self.nodes)} nodes", ready, timeout)

    async def start(self):
        self.start_gateway()
        key_path = os.path.join(self.work, "gw", "dev-api-key")
        await self.wait_for("gateway", lambda: _true(os.path.exists(key_path)), 60)
        await self.wait_for("gateway API", self.api_up, 60)
        self.key = open(key_path).read().strip()
        for node in self.nodes:
            self.start_proxy(node)
            self.start_engine(node)
        await asyncio.sleep(0.5)
        for node in self.nodes:
            await self.wait_for(f"proxy {node}", lambda: _true(os.path.exists(self.control(node))), 10)
            await self.proxy(node, LINK)
            self.start_node(node)
        await self.all_up(timeout=300 if self.args.engine == "llama" else 90)

    def stop(self):
        for name in [n for n in self.procs if n.startswith("node-")] + ["gateway"]:
            self.kill(name, signal.SIGTERM)  # graceful: the gateway flushes its ledger
        for name in self.procs:
            self.kill(name)


async def _true(value):
    return value


# MARK: HTTP and SSE

async def http(method, path, headers=None, body=b"", timeout=60.0):
    """Minimal HTTP/1.1 client → (status, headers, body, ended cleanly, error)."""
    try:
        return await asyncio.wait_for(_http(method, path, headers or {}, body), timeout)
    except asyncio.TimeoutError:
        return 0, {}, b"", False, "timeout"


async def _http(method, path, headers, body):
    status, head, data, clean = 0, {}, bytearray(), False
    writer = None
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", API_PORT)
        lines = [f"{method} {path} HTTP/1.1", "Host: gateway", "Connection: close", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()
        status = int((await reader.readline()).split()[1])
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            head[name.strip().lower()] = value.strip()
        if head.get("transfer-encoding") == "chunked":
            while size := int((await reader.readline()).split(b";")[0], 16):
                data += (await reader.readexactly(size + 2))[:-2]
                head.setdefault("x-first-chunk-at", time.monotonic())  # time to first token, for hedging
            await reader.readline()
        elif "content-length" in head:
            data += await reader.readexactly(int(head["content-length"]))
        else:
            data += await reader.read()
        clean = True
        return status, head, bytes(data), clean, None
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as error:
        return status, head, bytes(data), clean, type(error).__name__
    finally:
        if writer:
            writer.close()


def parse_sse(body: bytes):
    """(problem or None, text, error event or None) for a chat completion stream."""
    try:
        raw = body.decode()
    except UnicodeDecodeError:
        return "not UTF-8", "", None
    if not raw.endswith("\n\n"):
        return "torn: does not end at an event boundary", "", None
    events = raw[:-2].split("\n\n")
    text, error, done, finished = [], None, 0, False
    for index, event in enumerate(events):
        if not event.startswith("data: ") or "\n" in event:
            return f"event {index} is not one 'data: ' line: {event[:60]!r}", "".join(text), error
        payload = event[len("data: "):]
        if payload == "[DONE]":
            done += 1
            if index != len(events) - 1:
                return "events after [DONE]", "".join(text), error
            continue
        try:
            obj = json.loads(payload)
        except ValueError:
            return f"event {index} is not JSON", "".join(text), error
        if "error" in obj:
            error = obj["error"].get("message", str(obj["error"]))
            continue
        for choice in obj.get("choices") or []:
            text.append((choice.get("delta") or {}).get("content") or "")
            finished = finished or choice.get("finish_reason") is not None
    if done != 1:
        return f"{done} [DONE] events", "".join(text), error
    if not finished and error is None:
        return "no finish_reason", "".join(text), error
    return None, "".join(text), error


def text_problem(text: str, ref: str) -> str | None:
    """Word-by-word comparison with the fault-free answer: duplicated, lost or diverged, and where."""
    if text == ref:
        return None
    got, want = text.split(), ref.split()
    at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    if at < len(got) and got[at] in want[:at]:
        return f"duplicated at word {at}"
    if at < len(got) and got[at] in want[at:]:
        return f"lost {want.index(got[at], at) - at} words at word {at}"
    if at == len(got):
        return f"lost the last {len(want) - at} words"
    return f"diverged at word {at}"


# MARK: load

def request_body(model: str, prompt: int, max_tokens: int) -> bytes:
    return json.dumps({"model": model, "stream": True, "temperature": 0, "seed": 42, "max_tokens": max_tokens,
                       "stream_options": {"include_usage": True},
                       "messages": [{"role": "user", "content": f"Chaos prompt {prompt}: tell me about hearths."}]}).encode()


async def one_request(fleet: Fleet, args, prompt: int, retry: bool) -> dict:
    """One streamed chat request; with `retry` (gateway restart), retries a cut or refused request."""
    headers = {"Authorization": f"Bearer {fleet.key}", "Content-Type": "application/json"}
    record = {"prompt": prompt, "retries": 0, "cut": 0, "torn_at_cut": 0, "t0": time.monotonic()}
    deadline = time.monotonic() + 60
    while True:
        sent_at = time.monotonic()
        status, head, body, clean, error = await http("POST", "/v1/chat/completions", headers,
                                                      request_body(fleet.model, prompt, args.max_tokens), timeout=60)
        record.update(status=status, request_id=head.get("x-request-id"), node=head.get("x-hearth-node"),
                      ttft=head["x-first-chunk-at"] - sent_at if "x-first-chunk-at" in head else None)
        problem, text, error_event = parse_sse(body) if status == 200 and clean else (None, "", None)
        if status == 200 and not clean:
            record["cut"] += 1  # the stream stopped without its end: is what arrived whole events?
            record["torn_at_cut"] += bool(body) and not body.endswith(b"\n\n")
        # As the OpenAI SDKs do: retry a cut stream, a refused connection, 502/503, and 429 after its Retry-After.
        retryable = not clean or status in (0, 429, 502, 503)
        if retry and retryable and time.monotonic() < deadline:
            record["retries"] += 1
            pause = 0.25
            if status == 429:
                try:
                    pause = min(2.0, max(pause, float(head.get("retry-after", "1"))))
                except ValueError:
                    pause = 1.0
            await asyncio.sleep(pause)
            continue
        record.update(clean=clean, transport_error=error, sse_problem=problem, error_event=error_event, text=text,
                      error_body=body[:300].decode(errors="replace") if status != 200 else None, t1=time.monotonic())
        return record


async def run_phase(fleet: Fleet, args, name: str, inject, heal, references: dict) -> dict:
    """Steady load for args.phase_s; the fault starts at args.fault_at_s; then heal and wait for the fleet."""
    stop, results, counter = asyncio.Event(), [], iter(range(10 ** 9))

    async def worker():
        while not stop.is_set():
            results.append(await one_request(fleet, args, next(counter) % args.prompts, retry=name == "restart-gateway"))

    before = await fleet.failovers()
    started = time.monotonic()
    workers = [asyncio.ensure_future(worker()) for _ in range(args.concurrency)]
    await asyncio.sleep(args.fault_at_s)
    fault_time = time.monotonic()
    note = await inject() if inject else ""
    log(f"{name}: {note}")
    await asyncio.sleep(max(0.0, args.phase_s - args.fault_at_s))
    stop.set()
    await asyncio.gather(*workers)
    healed = await heal() if heal else ""
    recovery = await fleet.all_up(timeout=180)  # a degraded link is let back after a minute of good one
    # Retries before a stream's first byte leave attempts = 1 in the store: the gateway's counter sees them.
    retried = None if name == "restart-gateway" else await fleet.failovers() - before
    for r in results:
        r["t0"], r["t1"] = round(r["t0"] - started, 3), round(r["t1"] - started, 3)
    row = summarise(name, note, results, references, recovery, healed)
    row["gw_failovers"] = retried
    row["in_flight_at_fault"] = sum(r["t0"] <= fault_time - started < r["t1"] for r in results)
    return row


def summarise(name, note, results, references, recovery, healed) -> dict:
    """Classifies each request; tally() counts once the fleet store has said which ones failed over."""
    durations = sorted(r["t1"] - r["t0"] for r in results) or [0]
    ttfts = sorted(r["ttft"] for r in results if r.get("ttft") is not None) or [0]
    for r in results:
        # Admission control (429, or 503 with Retry-After) is a refusal the client is told to retry, not a failure.
        r["refused"] = r["status"] in (429, 503)
        r["failed"] = not r["refused"] and bool(r["status"] != 200 or not r["clean"] or r["error_event"])
        # A stream the gateway gave up on ends with one error event and no [DONE] (OpenAI's habit): it counts
        # as failed, not also as malformed.
        r["malformed"] = bool(r["sse_problem"]) and not r["error_event"]
        ok = not (r["refused"] or r["failed"] or r["malformed"])
        r["text_problem"] = text_problem(r["text"], references[r["prompt"]]) if ok else None
    return {"fault": name, "note": note, "sent": len(results), "p50_s": round(durations[len(durations) // 2], 2),
            "max_s": round(durations[-1], 2), "ttft_p50_s": round(ttfts[len(ttfts) // 2], 3),
            "ttft_p95_s": round(ttfts[min(len(ttfts) - 1, int(len(ttfts) * 0.95))], 3), "client_retries": sum(r["retries"] for r in results),
            "streams_cut": sum(r["cut"] for r in results), "torn_at_cut": sum(r["torn_at_cut"] for r in results),
            "recovery_s": round(recovery, 1), "healed": healed, "requests": results}


def tally(rows: list[dict], engine: str):
    """Per phase counts. llama-server is not batch-invariant (a stream batched with others can differ from the
    sequential reference), so for it only failed-over streams are held to the reference; others are `nondet`."""
    for row in rows:
        reqs = row["requests"]
        for r in reqs:
            r["text_error"] = bool(r["text_problem"]) and (engine != "llama" or (r["attempts"] or 1) > 1)
        row.update(completed=sum(not (r["refused"] or r["failed"] or r["malformed"] or r["text_error"]) for r in reqs),
                   refused=sum(r["refused"] for r in reqs), failed=sum(r["failed"] for r in reqs),
                   malformed=sum(r["malformed"] for r in reqs), text_errors=sum(r["text_error"] for r in reqs),
                   nondet=sum(bool(r["text_problem"]) and not r["text_error"] for r in reqs))
        row["problems"] = [
            {"request_id": r["request_id"], "node": r["node"], "attempts": r["attempts"],
             "why": f"HTTP {r['status']} {r['error_body']}" if r["status"] not in (0, 200)
             else r["transport_error"] or r["error_event"] or r["sse_problem"] or r["text_problem"]}
            for r in reqs if r["failed"] or r["malformed"] or r["text_error"]]


# MARK: phases

def faults(fleet: Fleet, args):
    """(name, inject, heal) per fault; each hits one node and leaves the others healthy."""
    n1, n2, n3 = fleet.nodes[:3]
    hb = args.heartbeat_ms / 1000

    async def kill_node():
        fleet.kill(f"node-{n1}")
        return f"SIGKILL node agent {n1}"

    async def restart_node():
        fleet.start_node(n1)
        return f"restarted {n1}"

    async def kill_engine():
        return fleet.kill_engine(n2)

    async def restart_engine():
        fleet.start_engine(n2)  # fake only; llama's supervisor restarts its own
        return f"engine of {n2} back"

    async def cut():
        await fleet.proxy(n3, "cut")
        asyncio.get_running_loop().call_later(args.cut_s, lambda: asyncio.ensure_future(fleet.proxy(n3, "restore")))
        return f"cut {n3}'s link (RST both ways) for {args.cut_s:g} s"

    async def partition():
        span = 3 * hb + 2
        await fleet.proxy(n1, "partition")
        asyncio.get_running_loop().call_later(span, lambda: asyncio.ensure_future(fleet.proxy(n1, "restore")))
        return f"partitioned {n1} (silent) for {span:g} s > heartbeat limit {3 * hb:g} s"

    async def loss():
        await fleet.proxy(n2, LINK.replace("loss=0", "loss=0.3"))
        return f"30 % loss on {n2}'s link"

    async def no_loss():
        await fleet.proxy(n2, LINK)
        return f"{n2}'s link clean"

    async def restart_gateway():
        fleet.kill("gateway")
        await asyncio.sleep(args.gateway_down_s)
        fleet.start_gateway()
        return f"SIGKILL gateway, restarted after {args.gateway_down_s:g} s on the same data dir and ports"

    table = [("none", None, None), ("kill-node", kill_node, restart_node),
             ("kill-engine", kill_engine, restart_engine if args.engine == "fake" else None),
             ("cut-link", cut, None), ("partition", partition, None), ("loss-30", loss, no_loss),
             ("restart-gateway", restart_gateway, None)]
    chosen = args.faults.split(",") if args.faults else [t[0] for t in table]
    if args.engine == "sim" and "kill-engine" in chosen:
        chosen.remove("kill-engine")  # n/a: the simulated engine lives inside the agent
    return [t for t in table if t[0] in chosen]


def ledger(work: str, rows: list[dict]):
    """Fills failed_over from the fleet store and counts answered requests whose usage row is missing."""
    db = sqlite3.connect(f"file:{os.path.join(work, 'gw', 'fleet.sqlite')}?mode=ro", uri=True)
    attempts = dict(db.execute("SELECT request_id, attempts FROM usage"))
    for row in rows:
        row["failed_over"] = sum(attempts.get(r["request_id"], 1) > 1 for r in row["requests"])
        row["ledger_missing"] = sum(r["status"] == 200 and r["clean"] and r["request_id"] not in attempts
                                    for r in row["requests"])
        for r in row["requests"]:
            r["attempts"] = attempts.get(r["request_id"])


def report(rows: list[dict]):
    cols = ["fault", "sent", "completed", "failed_over", "gw_failovers", "refused", "failed", "malformed", "text_errors",
            "nondet", "streams_cut", "client_retries", "ledger_missing", "p50_s", "max_s", "ttft_p50_s", "ttft_p95_s", "recovery_s"]
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in cols]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(str(r[c]).ljust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print(f"- {r['fault']}: {r['note']}" + (f"; {r['healed']}" if r["healed"] else ""))
        for p in r["problems"][:5]:
            print(f"    {p['request_id']} (first node {p['node']}, attempts {p['attempts']}): {p['why']}")


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hearth", required=True, help="the hearth binary")
    parser.add_argument("--work", required=True, help="folder for logs and the gateway's data dir")
    parser.add_argument("--prefix", default="hearth", help="namespace prefix (run.sh's)")
    parser.add_argument("--engine", choices=["fake", "sim", "llama"], default="fake")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--heartbeat-ms", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=6, help="streams in flight")
    parser.add_argument("--prompts", type=int, default=12, help="distinct prompts, each with a fault-free reference")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--token-ms", type=float, default=40, help="fake engine's time per token")
    parser.add_argument("--phase-s", type=float, default=12)
    parser.add_argument("--fault-at-s", type=float, default=3)
    parser.add_argument("--cut-s", type=float, default=3)
    parser.add_argument("--gateway-down-s", type=float, default=2)
    parser.add_argument("--faults", help="comma-separated subset, in table order")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--hedge", action="store_true", help="run the gateway with first-token hedging (hearth gateway --hedge)")
    parser.add_argument("--json", help="write the full results here")
    args = parser.parse_args()

    fleet = Fleet(args)
    rows, references = [], {}
    try:
        await fleet.start()
        log(f"fleet up: gateway + {len(fleet.nodes)} nodes ({args.engine})")
        # The reference: each prompt once, one at a time, with no fault.
        for prompt in range(args.prompts):
            r = await one_request(fleet, args, prompt, retry=False)
            problem = r["sse_problem"] or r["error_event"] or (None if r["status"] == 200 and r["clean"] else f"HTTP {r['status']}")
            if problem:
                raise RuntimeError(f"reference request {prompt} failed: {problem}")
            references[prompt] = r["text"]
        for round_ in range(args.rounds):
            for name, inject, heal in faults(fleet, args):
                rows.append(await run_phase(fleet, args, name, inject, heal, references))
                rows[-1]["round"] = round_ + 1
                log(f"{name}: sent {rows[-1]['sent']}, not 200 {sum(r['status'] != 200 for r in rows[-1]['requests'])}")
    finally:
        fleet.stop()
    ledger(args.work, rows)
    tally(rows, args.engine)
    report(rows)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"engine": args.engine, "nodes": args.nodes, "heartbeat_ms": args.heartbeat_ms,
                       "concurrency": args.concurrency, "max_tokens": args.max_tokens, "references": references,
                       "phases": rows}, out, indent=1)
    single_node = [r for r in rows if r["fault"] not in ("none", "restart-gateway")]
    bad = sum(r["failed"] + r["malformed"] + r["text_errors"] for r in single_node)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
