#!/usr/bin/env python3
"""A fault-injecting TCP proxy between a node agent and its gateway (stdlib asyncio).

The kernels here have no `tc netem`, so delay, jitter and loss come from this proxy;
`tc tbf` on the node's interface does the bandwidth limit below it.

Faults (per direction, per chunk read from the socket):
- delay/jitter: each chunk is released `delay ± uniform(jitter)` ms after it arrived,
  never before the chunk ahead of it (TCP keeps order).
- loss: TCP never loses bytes, it retransmits. A lost segment costs one retransmission
  timeout, and the stream behind it waits (head-of-line blocking). So with probability
  `loss` a chunk is held for an RTO of 200 ms (Linux's minimum), doubled for each
  consecutive loss in that direction (exponential backoff), capped at 3.2 s.
- rate: a token bucket in bytes/s per direction (0: unlimited).
- cut: every connection is reset now (RST) and new ones are reset on accept, until
  restore: the node and gateway both see the link drop at once.
- partition: nothing passes and nothing is closed (a silent black hole, like an
  iptables DROP); new connections wait. On restore, held bytes flow again, as TCP's
  retransmissions would deliver them, unless an end gave up and closed meanwhile.

Control: a UNIX socket (works across network namespaces); one command per line, one
JSON reply: `set delay=20 jitter=5 loss=0.3 rate=250000`, `cut`, `partition`,
`restore`, `stats`.
"""
import argparse
import asyncio
import json
import os
import random
import socket
import time

RTO_MIN, RTO_MAX = 0.2, 3.2


class Link:
    def __init__(self, upstream: tuple[str, int], seed: int):
        self.upstream = upstream
        self.delay = self.jitter = self.loss = 0.0  # seconds, seconds, probability
        self.rate = 0.0  # bytes/s, 0 = unlimited
        self.mode = "up"  # up | cut | partition
        self.healed = asyncio.Event()
        self.healed.set()
        self.random = random.Random(seed)
        self.connections: set[asyncio.StreamWriter] = set()
        self.stats = {"connections": 0, "bytes": 0, "lost_chunks": 0, "resets": 0}

    def command(self, line: str) -> dict:
        verb, *args = line.split()
        if verb == "set":
            for arg in args:
                name, value = arg.split("=")
                value = float(value)
                if name in ("delay", "jitter"):
                    setattr(self, name, value / 1000)
                elif name == "loss":
                    self.loss = value
                elif name == "rate":
                    self.rate = value
                else:
                    raise ValueError(f"unknown setting {name}")
        elif verb == "cut":
            self.mode = "cut"
            self.healed.clear()
            for writer in list(self.connections):
                self.reset(writer)
        elif verb == "partition":
            self.mode = "partition"
            self.healed.clear()
        elif verb == "restore":
            self.mode = "up"
            self.healed.set()
        elif verb != "stats":
            raise ValueError(f"unknown command {verb}")
        return {"mode": self.mode, "delay_ms": self.delay * 1000, "jitter_ms": self.jitter * 1000,
                "loss": self.loss, "rate": self.rate, **self.stats}

    def reset(self, writer: asyncio.StreamWriter):
        # SO_LINGER 0 makes close() send RST: the peer sees a reset, not a clean FIN.
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
        writer.transport.abort()
        self.stats["resets"] += 1

    async def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        if self.mode == "cut":
            self.reset(writer)
            return
        await self.healed.wait()  # a partitioned link lets the SYN hang, not fail
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            self.reset(writer)
            return
        self.stats["connections"] += 1
        pair = {writer, up_writer}
        self.connections |= pair
        try:
            await asyncio.gather(self.pump(reader, up_writer, pair), self.pump(up_reader, writer, pair))
        finally:
            self.connections -= pair
            for w in pair:
                w.close()

    async def pump(self, reader, writer, pair):
        """Copies one direction, holding each chunk until its release time."""
        queue: asyncio.Queue = asyncio.Queue(maxsize=64)  # bounded: a slow link pushes back on the sender
        release = 0.0  # monotonic time the previous chunk left
        losses = 0  # consecutive losses, for the RTO backoff

        async def send():
            while (item := await queue.get()) is not None:
                at, data = item
                await asyncio.sleep(max(0.0, at - time.monotonic()))
                await self.healed.wait()  # partition: hold, do not drop
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()

        sender = asyncio.ensure_future(send())
        try:
            while data := await reader.read(65536):
                now = time.monotonic()
                at = now + max(0.0, self.delay + self.random.uniform(-self.jitter, self.jitter))
                if self.loss and self.random.random() < self.loss:
                    at += min(RTO_MAX, RTO_MIN * 2 ** losses)
                    losses += 1
                    self.stats["lost_chunks"] += 1
                else:
                    losses = 0
                if self.rate:
                    at = max(at, release + len(data) / self.rate)
                release = max(release, at)
                self.stats["bytes"] += len(data)
                await queue.put((release, data))
            await queue.put(None)
            await sender
        except (ConnectionError, OSError):
            pass
        finally:
            if not sender.done():
                sender.cancel()
            # One side is gone: close the other too, as a real connection would end.
            for w in pair:
                w.close()


async def control(link: Link, path: str):
    async def serve(reader, writer):
        while line := (await reader.readline()).decode().strip():
            try:
                reply = link.command(line)
            except (ValueError, IndexError) as error:
                reply = {"error": str(error)}
            writer.write((json.dumps(reply) + "\n").encode())
            await writer.drain()
        writer.close()

    if os.path.exists(path):
        os.unlink(path)
    return await asyncio.start_unix_server(serve, path)


async def main():
    parser = argparse.ArgumentParser(description="fault-injecting TCP proxy")
    parser.add_argument("--listen", default="127.0.0.1:7000")
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the gateway's tunnel endpoint")
    parser.add_argument("--control", required=True, help="path of the control UNIX socket")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    up_host, up_port = args.upstream.rsplit(":", 1)
    link = Link((up_host, int(up_port)), args.seed)
    server = await asyncio.start_server(link.accept, host, int(port))
    ctl = await control(link, args.control)
    async with server, ctl:
        await asyncio.gather(server.serve_forever(), ctl.serve_forever())


if __name__ == "__main__":
    asyncio.run(main())
