#!/usr/bin/env python3
"""Mixed-task benchmark: multi-turn chat, document Q&A and code generation sent at once, through Hearth's
embedded default (`hearth up`: a gateway and two llama-server nodes) and straight to one llama-server with its
prompt cache on, on the same machine, one after the other.

usage: bench_tasks.py --hearth BIN --llama-server BIN --model GGUF [--json] [--scale N]

Per class it reports TTFT and TPOT p50/p99, SLO attainment (Hearth's default class targets, HearthCore's
`ClassTargets.default`), best-effort and refused counts, and cached prompt tokens; and the two figures the issue
sets targets for: the TTFT of a conversation's turn >= 2 and a document's question >= 2 against the engine's own
cache (target: within 1.5x), and Hearth's goodput over one engine's (target: at least 1.8x).

Cached prompt tokens: straight from llama-server's `usage.prompt_tokens_details`; through Hearth, from the
gateway's usage rows (`cached_prompt_tokens`), since the node strips cache details from what clients see.
"""
import argparse
import http.client
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

# HearthCore's ClassTargets.default: (TTFT s, TTFT s per 1k prompt tokens, TPOT s).
TARGETS = {"chat": (1.0, 0.1, 0.100), "document": (2.0, 0.2, 0.150), "code": (1.5, 0.1, 0.050)}
MODEL = "smollm2-135m-instruct"  # `hearth up`'s model name (EngineInstallation.defaultModelName)
# The node engine's settings in `hearth up` (LlamaServerEngine): 4 slots of 2,048 tokens, one thread.
SLOTS, CONTEXT_PER_SLOT, THREADS = 4, 2048, 1


def words(rng, count):
    vocabulary = ("river valley engine signal harbour lantern orchard copper meadow quarry ledger "
                  "beacon timber canyon ember glacier mosaic pillar summit thistle").split()
    return " ".join(rng.choice(vocabulary) for _ in range(count))


def workload(scale, seed=7):
    """Actors: each a list of steps run one after another (a conversation's turns, a document's questions)."""
    rng = random.Random(seed)
    system = "You are Hearth's assistant. " + words(rng, 60)
    actors = []
    for session in range(3 * scale):
        turns = [words(rng, 12) + "?" for _ in range(4)]
        actors.append(("chat", {"system": system, "turns": turns, "max_tokens": 24}))
    for document in range(2 * scale):
        text = words(rng, 250)
        questions = [f"Question {q}: which word comes most often in the document? " + words(rng, 6) for q in range(3)]
        actors.append(("document", {"document": text, "questions": questions, "max_tokens": 16}))
    for coder in range(1 * scale):
        tasks = [f"Write a Python function that {words(rng, 12)}." for _ in range(3)]
        actors.append(("code", {"tasks": tasks, "max_tokens": 64}))
    return actors


def stream(port, key, body, task):
    """One streamed request: (status, headers, ttft s, tpot s, content events, answer text, usage dict or None)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Content-Type": "application/json", "X-Hearth-Task": task}
    if key:
        headers["Authorization"] = "Bearer " + key
    start = time.perf_counter()
    connection.request("POST", "/v1/chat/completions", body=json.dumps(body), headers=headers)
    response = connection.getresponse()
    head = {name.lower(): value for name, value in response.getheaders()}
    if response.status != 200:
        head["error"] = response.read()[:300].decode("utf-8", "replace")
        connection.close()
        return response.status, head, None, None, 0, "", None
    first = last = None
    events, text, usage, buffer = 0, [], None, b""
    while True:
        chunk = response.read1(65536)
        if not chunk:
            break
        buffer += chunk
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            if not event.startswith(b"data: ") or event == b"data: [DONE]":
                continue
            payload = json.loads(event[6:])
            usage = payload.get("usage") or usage
            choices = payload.get("choices") or []
            content = (choices[0].get("delta") or {}).get("content") if choices else None
            if content:
                now = time.perf_counter()
                first = first or now
                last = now
                events += 1
                text.append(content)
    connection.close()
    ttft = (first - start) if first else None
    tpot = (last - first) / (events - 1) if events > 1 else 0.0
    return 200, head, ttft, tpot, events, "".join(text), usage


def run_actor(kind, spec, port, key, results, lock):
    def send(messages, step, max_tokens):
        body = {"model": MODEL, "messages": messages, "max_tokens": max_tokens, "temperature": 0, "stream": True,
                "ignore_eos": True, "stream_options": {"include_usage": True}}
        status, head, ttft, tpot, events, text, usage = stream(port, key, body, kind)
        prompt = (usage or {}).get("prompt_tokens") or sum(len(m["content"]) for m in messages) // 4
        cached = ((usage or {}).get("prompt_tokens_details") or {}).get("cached_tokens")
        if status != 200:
            print(f"{kind} step {step}: HTTP {status} {head.get('error', '')}", file=sys.stderr)
        with lock:
            results.append({"class": kind, "step": step, "status": status, "ttft": ttft, "tpot": tpot, "events": events,
                            "prompt": prompt, "cached": cached, "slo": head.get("x-hearth-slo"),
                            "request_id": head.get("x-request-id"), "node": head.get("x-hearth-node")})
        return text if status == 200 else ""

    if kind == "chat":
        messages = [{"role": "system", "content": spec["system"]}]
        for step, turn in enumerate(spec["turns"]):
            messages.append({"role": "user", "content": turn})
            answer = send(list(messages), step, spec["max_tokens"])
            messages.append({"role": "assistant", "content": answer or "..."})
    elif kind == "document":
        for step, question in enumerate(spec["questions"]):
            content = "Document:\n" + spec["document"] + "\n\n" + question
            send([{"role": "user", "content": content}], step, spec["max_tokens"])
    else:
        for step, task in enumerate(spec["tasks"]):
            send([{"role": "user", "content": task}], step, spec["max_tokens"])


def run_workload(port, key, actors):
    results, lock = [], threading.Lock()
    threads = [threading.Thread(target=run_actor, args=(kind, spec, port, key, results, lock)) for kind, spec in actors]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - started


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port, path, deadline_s, key=None, accept=lambda status, body: status == 200):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", path, headers={"Authorization": "Bearer " + key} if key else {})
            response = connection.getresponse()
            body = response.read()
            connection.close()
            if accept(response.status, body):
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"nothing answered {path} on port {port} within {deadline_s} s")


def percentile(values, p):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    return values[min(len(values) - 1, int(round(p * (len(values) - 1))))]


def summarise(results, seconds):
    classes = {}
    met_total = 0
    for kind in ("chat", "document", "code"):
        rows = [r for r in results if r["class"] == kind]
        served = [r for r in rows if r["status"] == 200 and r["ttft"] is not None]
        ttft0, per_k, tpot_target = TARGETS[kind]
        met = [r for r in served if r["ttft"] <= ttft0 + per_k * r["prompt"] / 1000 and r["tpot"] <= tpot_target]
        met_total += len(met)
        repeat = [r["ttft"] for r in served if r["step"] >= 1 and kind in ("chat", "document")]
        ms = lambda v: None if v is None else round(v * 1000, 1)
        classes[kind] = {
            "requests": len(rows), "served": len(served), "refused": len(rows) - len(served),
            "best_effort": sum(1 for r in served if r["slo"] == "best-effort"),
            "slo_attainment": round(len(met) / len(rows), 3) if rows else None,
            "ttft_p50_ms": ms(percentile([r["ttft"] for r in served], 0.5)),
            "ttft_p99_ms": ms(percentile([r["ttft"] for r in served], 0.99)),
            "tpot_p50_ms": ms(percentile([r["tpot"] for r in served], 0.5)),
            "tpot_p99_ms": ms(percentile([r["tpot"] for r in served], 0.99)),
            "repeat_ttft_p50_ms": ms(percentile(repeat, 0.5)) if repeat else None,
            "cached_prompt_tokens": sum(r["cached"] or 0 for r in served),
            "prompt_tokens": sum(r["prompt"] for r in served),
        }
    return {"seconds": round(seconds, 1), "goodput_rps": round(met_total / seconds, 3), "classes": classes}


def direct_run(llama_server, model_path, actors):
    port = free_port()
    engine = subprocess.Popen(
        [llama_server, "-m", model_path, "--host", "127.0.0.1", "--port", str(port), "-t", str(THREADS), "-np", str(SLOTS),
         "-c", str(CONTEXT_PER_SLOT * SLOTS), "--no-webui", "--alias", MODEL, "--log-disable"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(port, "/health", 120)
        stream(port, None, {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2,
                            "stream": True}, "chat")
        results, seconds = run_workload(port, None, actors)
    finally:
        engine.terminate()
        engine.wait()
    return summarise(results, seconds)


def hearth_run(hearth, actors):
    port = free_port()
    data = tempfile.mkdtemp(prefix="hearth-bench-tasks.")
    key = "bench-tasks-key"
    up = subprocess.Popen(
        [hearth, "up", "--nodes", "2", "--port", str(port), "--data-dir", data, "--api-key", key, "--no-demo",
         "--log-level", "error"],
        stdout=open(os.path.join(data, "up.log"), "w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # `hearth up` says "Hearth is up" once every node has calibrated and joined.
        deadline = time.monotonic() + 600
        while "Hearth is up" not in open(os.path.join(data, "up.log")).read():
            if up.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("hearth up did not come up: " + open(os.path.join(data, "up.log")).read()[-2000:])
            time.sleep(0.5)
        stream(port, key, {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "stream": True}, "chat")
        results, seconds = run_workload(port, key, actors)
    finally:
        os.killpg(up.pid, signal.SIGINT)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
    # The gateway's usage rows hold what the node stripped from clients: cached prompt tokens per request.
    database = sqlite3.connect(os.path.join(data, "fleet.sqlite"))
    cached = dict(database.execute("SELECT request_id, cached_prompt_tokens FROM usage"))
    database.close()
    for row in results:
        row["cached"] = cached.get(row["request_id"])
    summary = summarise(results, seconds)
    summary["nodes_used"] = sorted({r["node"] for r in results if r["node"]})
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hearth", required=True)
    parser.add_argument("--llama-server", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--scale", type=int, default=1, help="multiply the number of sessions, documents and coders")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    actors = workload(args.scale)
    direct = direct_run(args.llama_server, args.model, actors)
    hearth = hearth_run(args.hearth, actors)
    ratios = {}
    for kind in ("chat", "document"):
        h, d = hearth["classes"][kind]["repeat_ttft_p50_ms"], direct["classes"][kind]["repeat_ttft_p50_ms"]
        ratios[f"{kind}_repeat_ttft_vs_engine_cache"] = round(h / d, 2) if h and d else None
    ratios["goodput_vs_one_engine"] = round(hearth["goodput_rps"] / direct["goodput_rps"], 2) if direct["goodput_rps"] else None
    report = {"machine": f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}", "one_engine": direct, "hearth_two_nodes": hearth,
              "ratios": ratios}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"machine: {report['machine']}")
    header = f"{'target':<10} {'class':<9} {'req':>4} {'refused':>7} {'best-eff':>8} {'SLO att':>7} {'TTFT p50':>9} {'TTFT p99':>9} " \
             f"{'TPOT p50':>9} {'TPOT p99':>9} {'turn>=2 TTFT':>12} {'cached/prompt':>14}"
    print(header)
    def ms(value):
        return "-" if value is None else f"{value:.0f}ms"
    for name, run in (("engine", direct), ("hearth", hearth)):
        for kind, c in run["classes"].items():
            print(f"{name:<10} {kind:<9} {c['requests']:>4} {c['refused']:>7} {c['best_effort']:>8} "
                  f"{(c['slo_attainment'] or 0) * 100:>6.1f}% {ms(c['ttft_p50_ms']):>9} {ms(c['ttft_p99_ms']):>9} "
                  f"{ms(c['tpot_p50_ms']):>9} {ms(c['tpot_p99_ms']):>9} {ms(c['repeat_ttft_p50_ms']):>12} "
                  f"{str(c['cached_prompt_tokens']) + '/' + str(c['prompt_tokens']):>14}")
        print(f"{name:<10} goodput {run['goodput_rps']} req/s over {run['seconds']} s")
    print("ratios:", json.dumps(ratios))


if __name__ == "__main__":
    main()
