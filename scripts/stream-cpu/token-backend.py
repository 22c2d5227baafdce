#!/usr/bin/env python3
"""A fake engine that streams like a real one: each SSE event is its own chunk, written and drained apart, so the
node relays one tunnel frame per token (a static body, as nginx serves in the throughput smoke, arrives in one read).

Usage: token-backend.py PORT [EVENTS] [GAP_MS]. Answers /v1/models and /health as the node agent probes them, and any POST with EVENTS chat chunks and `[DONE]`, chunked,
keep-alive, GAP_MS apart."""
import asyncio
import json
import sys

PORT = int(sys.argv[1])
EVENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 20
GAP = (float(sys.argv[3]) if len(sys.argv) > 3 else 1.0) / 1000


def chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


def event(index: int) -> bytes:
    body = {
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": "smoke-model",
        "choices": [{"index": 0, "delta": {"content": f"tok{index} "}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


EVENT_BYTES = [chunk(event(i)) for i in range(EVENTS)]
DONE = chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n"
MODELS = json.dumps({"object": "list", "data": [
    {"id": "smoke-model", "object": "model", "owned_by": "smoke", "max_model_len": 8192}]}).encode()
HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: keep-alive\r\n\r\n")


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            if not head.startswith(b"POST"):
                # The node agent's probes: /v1/models and /health.
                body = MODELS if b" /v1/models" in head.split(b"\r\n", 1)[0] else b""
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
                continue
            writer.write(HEAD)
            for data in EVENT_BYTES:
                writer.write(data)
                await writer.drain()
                await asyncio.sleep(GAP)
            writer.write(DONE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(serve, "127.0.0.1", PORT)
    async with server:
        await server.serve_forever()


asyncio.run(main())
