#!/usr/bin/env python3
"""Time to first token and decode rate through the Hearth gateway vs the same engine called directly.

usage: bench_ttft.py DIRECT_URL GATEWAY_URL API_KEY MODEL [REPS]
Alternates direct and gateway requests (same body, temperature 0, no prompt cache) so both see the
same machine state; prints medians and the gateway/direct ratios as JSON.
"""
import http.client
import json
import statistics
import sys
import time
from urllib.parse import urlparse


def stream_once(base, key, body):
    url = urlparse(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = "Bearer " + key
    start = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body=json.dumps(body), headers=headers)
    response = conn.getresponse()
    if response.status != 200:
        raise SystemExit(f"{base}: HTTP {response.status} {response.read()[:200]!r}")
    first = last = None
    tokens = 0
    buffer = b""
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
            choices = payload.get("choices") or []
            if choices and (choices[0].get("delta") or {}).get("content"):
                now = time.perf_counter()
                first = first or now
                last = now
                tokens += 1
    conn.close()
    ttft = (first - start) * 1000
    rate = (tokens - 1) / (last - first) if tokens > 1 and last > first else 0.0
    return ttft, rate, tokens


def main():
    direct, gateway, key, model = sys.argv[1:5]
    reps = int(sys.argv[5]) if len(sys.argv) > 5 else 10
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Write a short paragraph about rivers."}],
        "max_tokens": 64, "temperature": 0, "stream": True, "cache_prompt": False, "ignore_eos": True,
    }
    stream_once(direct, None, body)  # warm both paths
    stream_once(gateway, key, body)
    rows = {"direct": [], "gateway": []}
    for _ in range(reps):
        rows["direct"].append(stream_once(direct, None, body))
        rows["gateway"].append(stream_once(gateway, key, body))
    out = {}
    for name, samples in rows.items():
        out[name] = {
            "ttft_ms_p50": round(statistics.median(s[0] for s in samples), 2),
            "tokens_per_s_p50": round(statistics.median(s[1] for s in samples), 1),
            "tokens": samples[0][2],
        }
    out["ttft_ratio_gateway_over_direct"] = round(out["gateway"]["ttft_ms_p50"] / out["direct"]["ttft_ms_p50"], 3)
    out["rate_ratio_gateway_over_direct"] = round(out["gateway"]["tokens_per_s_p50"] / out["direct"]["tokens_per_s_p50"], 3)
    out["reps"] = reps
    print(json.dumps(out, indent=2))


main()
