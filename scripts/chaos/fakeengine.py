#!/usr/bin/env python3
"""A deterministic OpenAI-compatible engine for the chaos harness (stdlib only).

Why not `hearth node --engine sim`? The simulated engine always starts its answer at
"sim0" and ignores an assistant prefix, so a resumed stream repeats text and no
continuity check can pass. This engine derives every word from (prompt, seed, index)
and, like vLLM's `continue_final_message` or llama.cpp's assistant prefill, continues
a final assistant message from where it stops: a correct failover yields exactly the
fault-free text. Tokens are paced (--token-ms) so faults land mid-stream.

Serves GET /health, GET /v1/models, POST /v1/chat/completions (streamed or not).
"""
import argparse
import hashlib
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VOCAB = ("amber birch cedar delta ember fjord glade heath iris juniper kestrel "
         "larch moss nettle oak pine quartz reed sorrel thistle umber vale willow yarrow").split()


def word(key: str, index: int) -> str:
    """Word `index` of the answer to `key`: a pure function, so any node gives the same text."""
    digest = hashlib.sha256(f"{key}/{index}".encode()).digest()
    return f"{VOCAB[digest[0] % len(VOCAB)]}{index}"


def plan(body: dict) -> tuple[str, int, str]:
    """(answer key, first word index, prefix) for a request, honouring a continued assistant message."""
    messages = list(body.get("messages") or [])
    prefix = ""
    if messages and messages[-1].get("role") == "assistant" and body.get("continue_final_message"):
        prefix = messages.pop()["content"] or ""
    key = json.dumps([messages, body.get("seed"), body.get("model")], sort_keys=True)
    return key, len(prefix.split()), prefix


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "Engine"

    def log_message(self, *args):  # quiet: the harness keeps stdout for its report
        pass

    def send_json(self, status: int, obj: dict):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            self.send_json(200, {"status": "ok"})
        elif self.path == "/v1/models":
            self.send_json(200, {"object": "list", "data": [{"id": self.server.model, "object": "model", "max_model_len": 32768}]})
        else:
            self.send_json(404, {"error": {"message": "not found"}})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        if self.path != "/v1/chat/completions":
            self.send_json(404, {"error": {"message": "only chat completions"}})
            return
        key, start, prefix = plan(body)
        count = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
        words = [word(key, start + i) + " " for i in range(count)]
        # A prefix that is not this answer's own start means the gateway spliced wrongly: say so in the text.
        if prefix and prefix != "".join(word(key, i) + " " for i in range(start)):
            words[0] = "PREFIX-MISMATCH " + words[0]
        prompt_tokens = max(1, len(json.dumps(body.get("messages"))) // 4)
        time.sleep(self.server.prefill_ms / 1000)
        base = {"id": "fake-1", "created": 0, "model": self.server.model}
        if not body.get("stream"):
            for _ in words[1:]:
                time.sleep(self.server.token_ms / 1000)
            self.send_json(200, {**base, "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "".join(words)}, "finish_reason": "length"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": count, "total_tokens": prompt_tokens + count}})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = {**base, "object": "chat.completion.chunk"}
        events = [{**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
        for i, w in enumerate(words):
            last = i == count - 1
            events.append({**chunk, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": "length" if last else None}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append({**chunk, "choices": [], "usage": {
                "prompt_tokens": prompt_tokens, "completion_tokens": count, "total_tokens": prompt_tokens + count}})
        try:
            for i, event in enumerate(events):
                if i > 1:
                    time.sleep(self.server.token_ms / 1000)
                self.write_chunk(b"data: " + json.dumps(event).encode() + b"\n\n")
            self.write_chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the node agent went away: stop computing for nobody

    def write_chunk(self, data: bytes):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


class Engine(ThreadingHTTPServer):
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--model", default="chaos-fake")
    parser.add_argument("--token-ms", type=float, default=40)
    parser.add_argument("--prefill-ms", type=float, default=30)
    args = parser.parse_args()
    server = Engine((args.host, args.port), Handler)
    server.model, server.token_ms, server.prefill_ms = args.model, args.token_ms, args.prefill_ms
    server.serve_forever()


if __name__ == "__main__":
    main()
