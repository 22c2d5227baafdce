#!/usr/bin/env python3
"""Writes an nginx configuration for the throughput smoke (scripts/throughput-smoke/run.sh).

usage: fake-backend.py RUN_DIR BASE_PORT WORKERS

- JSON workers on BASE_PORT .. BASE_PORT+WORKERS-1 answer every completion with one fixed chat answer;
- SSE workers on BASE_PORT+100 .. answer with a fixed stream of 20 chunks and [DONE];
- the reference proxy on BASE_PORT+200 (JSON workers) and BASE_PORT+201 (SSE workers): nginx itself as a
  round-robin HTTP/1.1 proxy with keep-alive to the workers, the yardstick Hearth's gateway is measured against.
Workers also answer /v1/models and /health, which Hearth's node agent probes.
"""
import json
import sys

run_dir, base, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
model = "smoke-model"
compact = lambda value: json.dumps(value, separators=(",", ":"))
answer_text = "A fixed answer from the throughput smoke's fake engine, the same for every request. " * 3
answer = compact({
    "id": "chatcmpl-smoke", "object": "chat.completion", "created": 1790000000, "model": model,
    "choices": [{"index": 0, "message": {"role": "assistant", "content": answer_text}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 96, "completion_tokens": 40, "total_tokens": 136},
})
words = answer_text.split(" ")[:20]
chunks = []
for index, word in enumerate(words):
    delta = {"role": "assistant", "content": word + " "} if index == 0 else {"content": word + " "}
    chunks.append("data: " + compact({
        "id": "chatcmpl-smoke", "object": "chat.completion.chunk", "created": 1790000000, "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": "stop" if index == len(words) - 1 else None}],
    }) + "\n\n")
stream = "".join(chunks) + "data: [DONE]\n\n"
models = compact({"object": "list", "data": [{"id": model, "object": "model", "owned_by": "smoke", "max_model_len": 8192}]})


def quoted(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def worker(port, content_type, body):
    return f"""
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /v1/chat/completions {{ default_type {content_type}; return 200 {quoted(body)}; }}
        location = /v1/models {{ default_type application/json; return 200 {quoted(models)}; }}
        location = /health {{ default_type text/plain; return 200 ''; }}
        location / {{ return 404; }}
    }}"""


def proxy(port, name, first):
    servers = "\n".join(f"        server 127.0.0.1:{first + index};" for index in range(workers))
    return f"""
    upstream {name} {{
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://{name};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}"""


blocks = [worker(base + index, "application/json", answer) for index in range(workers)]
blocks += [worker(base + 100 + index, "text/event-stream", stream) for index in range(workers)]
blocks += [proxy(base + 200, "json_workers", base), proxy(base + 201, "sse_workers", base + 100)]
print(f"""worker_processes 1;
pid {run_dir}/nginx.pid;
error_log {run_dir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {run_dir}/body;
    proxy_temp_path {run_dir}/proxy;
    fastcgi_temp_path {run_dir}/fastcgi;
    uwsgi_temp_path {run_dir}/uwsgi;
    scgi_temp_path {run_dir}/scgi;
{"".join(blocks)}
}}""")
