"""Load generator: N conversations through the real wire protocol.

Run in its own process (``python -m bench.loadgen --help``); ``bench.run``
starts it. Everything is bounded: each wait has a timeout, each sender sends
exactly ``--messages`` frames, the drain lasts at most ``--drain`` seconds and
the whole run at most ``--timeout`` seconds.

Per conversation there is a visitor socket and a share of an operator socket
(one operator socket per ``--per-operator`` conversations). ``--target
product`` speaks docs/protocol.md on ``/ws/chat/`` and ``/ws/console/``;
``--target relay`` speaks ``bench/relay.py``'s protocol on ``/ws/relay/``
with the same socket layout (an operator socket joins its K rooms).

Each message text is ``bench <t_send_ns> <id> <padding>``; the receiver
subtracts ``t_send_ns`` from its own ``time.time_ns()`` (same machine, same
clock), which gives the one-way delivery latency, and uses ``id`` to count
losses (acked, never delivered), duplicates and misroutes.
"""

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import resource
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

V2O = "visitor_to_operator"
_CLK_TCK = os.sysconf("SC_CLK_TCK")
O2V = "operator_to_visitor"


def raise_fd_limit() -> int:
    """Raise the soft open-files limit to the hard limit; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def read_rss_kib(pid: int) -> int | None:
    """VmRSS of a process in KiB, or None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def read_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds used so far by a process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / _CLK_TCK


def read_machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, all cores."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return 0.0, 0.0
    values = [int(v) for v in fields[:8]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values)
    return (total - idle) / _CLK_TCK, total / _CLK_TCK


def percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def by_second(pairs: list[tuple[int, int]], start_ns: int) -> list[dict[str, Any]]:
    """p50/p99/max of the latencies of the messages sent in each second.

    Shows whether a tail comes from a steady queue or from stalls that
    recur (a periodic task, a sweep): the run's percentiles cannot tell.
    """
    seconds: dict[int, list[int]] = {}
    for t_send, latency in pairs:
        seconds.setdefault(max(0, (t_send - start_ns) // 1_000_000_000), []).append(
            latency
        )
    rows = []
    for second in sorted(seconds):
        summary = summarize_ms(seconds[second])
        rows.append(
            {
                "s": second,
                "n": summary["count"],
                "p50": summary["p50"],
                "p99": summary["p99"],
                "max": summary["max"],
            }
        )
    return rows


def summarize_ms(values_ns: list[int]) -> dict[str, float | None]:
    values = sorted(v / 1e6 for v in values_ns)
    out: dict[str, float | None] = {"count": len(values)}
    for name, pct in (("p50", 50), ("p95", 95), ("p99", 99)):
        value = percentile(values, pct)
        out[name] = round(value, 2) if value is not None else None
    out["max"] = round(values[-1], 2) if values else None
    out["mean"] = round(sum(values) / len(values), 2) if values else None
    return out


@dataclass
class Sent:
    t_ns: int
    direction: str
    conv: int


@dataclass
class Conversation:
    index: int
    room: str = ""  # relay room, or the product's conversation uuid
    visitor: "Sock | None" = None
    operator: "Sock | None" = None
    ready: bool = False
    # seqs each side has seen (its own acks and the other side's messages)
    seqs: dict[str, list[tuple[int, str]]] = field(
        default_factory=lambda: {"visitor": [], "operator": []}
    )


class SetupError(Exception):
    """A step of opening a conversation failed; its code is counted."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Sock:
    """One client socket, its reader task and its pending waits."""

    def __init__(self, gen: "LoadGen", kind: str, url: str) -> None:
        self.gen = gen
        self.kind = kind  # "visitor" | "operator"
        self.url = url
        self.ws: ClientConnection | None = None
        self.reader: asyncio.Task | None = None
        self.waiters: dict[tuple, asyncio.Future] = {}
        self.pending_claim: asyncio.Future | None = None
        self.claim_lock = asyncio.Lock()
        self.conversations: list[Conversation] = []
        self.closed_code: int | None = None

    async def open(self, headers: dict[str, str]) -> None:
        origin = self.gen.origin_for(self.url)
        self.ws = await connect(
            self.url,
            origin=origin,
            additional_headers=headers,
            compression=None,
            open_timeout=self.gen.args.open_timeout,
            ping_interval=None,
            close_timeout=2,
            max_size=4 * 1024 * 1024,
        )
        self.reader = asyncio.create_task(self.read())

    def expect(self, key: tuple) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self.waiters[key] = fut
        return fut

    def resolve(self, key: tuple, value: Any) -> None:
        fut = self.waiters.pop(key, None)
        if fut is not None and not fut.done():
            fut.set_result(value)

    def fail_all(self, code: str) -> None:
        for fut in self.waiters.values():
            if not fut.done():
                fut.set_exception(SetupError(code))
        self.waiters.clear()

    async def send(self, frame: dict) -> bool:
        if self.ws is None:
            return False
        try:
            await self.ws.send(json.dumps(frame))
        except ConnectionClosed:
            return False
        return True

    async def read(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                now = time.time_ns()
                try:
                    frame = json.loads(raw)
                except ValueError:
                    self.gen.errors["client:bad_json_from_server"] += 1
                    continue
                if isinstance(frame, dict):
                    self.gen.on_frame(self, frame, now)
        except ConnectionClosed:
            pass
        except Exception as exc:  # keep the run going, count it
            self.gen.errors[f"client:reader_{type(exc).__name__}"] += 1
        finally:
            code = self.ws.close_code
            self.closed_code = code
            if not self.gen.closing:
                self.gen.errors[f"closed:{code}"] += 1
            self.fail_all(f"closed:{code}")

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 3)
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(BaseException):
                await self.reader


class LoadGen:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.urls = [u.rstrip("/") for u in args.url]
        self.next_url = 0
        self.sessions: list[str] = []
        self.run_tag = uuid.uuid4().hex[:8]
        self.convs = [Conversation(i) for i in range(args.conversations)]
        # Surge scenarios: conversations besides the measured ones, opened
        # (arrive) or released and claimed back (requeue) all at once.
        surge_n = args.surge_size if args.surge != "none" else 0
        self.surge_convs = [
            Conversation(args.conversations + i) for i in range(surge_n)
        ]
        self.surge_operators: list[Sock] = []
        self.surge_window_ns: tuple[int, int] | None = None
        self.surge_s: float | None = None
        self.surge_errors: Counter[str] = Counter()
        # When each visitor sent start, and when a conversation first
        # showed in an operator's queue: how long a start takes to be seen.
        self.start_sent_ns: dict[int, int] = {}
        self.queue_seen_ns: dict[str, int] = {}
        # (send time, latency) of every delivery, to cut the surge window.
        self.lat_at: list[tuple[int, int]] = []
        self.by_room: dict[str, Conversation] = {}
        self.operators: list[Sock] = []
        self.sent: dict[str, Sent] = {}
        self.acked: dict[str, int] = {}
        self.delivered: Counter[str] = Counter()
        self.lat: dict[str, list[int]] = {V2O: [], O2V: []}
        self.ack_lat: list[int] = []
        self.errors: Counter[str] = Counter()
        self.setup_errors: Counter[str] = Counter()
        self.ignored: Counter[str] = Counter()
        self.misrouted = 0
        self.echoes = 0
        self.foreign = 0
        self.first_send_ns = 0
        self.last_send_ns = 0
        self.last_delivery_ns = 0
        self.loop_lag_ms: list[float] = []
        self.closing = False
        self.phase = "setup"
        self.progress_at = 0.0
        # Memory once the first tenth of the conversations is open: what
        # comes after it is per socket, the first-use costs came before.
        self.warm_at = max(1, math.ceil(args.conversations / 10))
        self.warm_ready = 0
        self.warm_rss: dict[int, int | None] | None = None
        self.warm_sockets = 0
        self.result: dict[str, Any] | None = None

    # ---- plumbing -------------------------------------------------------

    def take_url(self) -> str:
        url = self.urls[self.next_url % len(self.urls)]
        self.next_url += 1
        return url

    @staticmethod
    def origin_for(url: str) -> str:
        parts = urlsplit(url)
        return f"http://{parts.hostname}:{parts.port}"

    def endpoint(self, base: str, kind: str) -> str:
        if self.args.target == "relay":
            return f"{base}/ws/relay/"
        return f"{base}/ws/chat/" if kind == "visitor" else f"{base}/ws/console/"

    def make_text(self, msg_id: str, t_ns: int) -> str:
        text = f"bench {t_ns} {msg_id} "
        pad = max(0, self.args.text_chars - len(text))
        return text + ("lorem ipsum " * (pad // 12 + 1))[:pad]

    @staticmethod
    def parse_text(text: Any) -> tuple[int, str] | None:
        if not isinstance(text, str) or not text.startswith("bench "):
            return None
        parts = text.split(" ", 3)
        if len(parts) < 3:
            return None
        try:
            return int(parts[1]), parts[2]
        except ValueError:
            return None

    # ---- incoming frames ------------------------------------------------

    def on_frame(self, sock: Sock, frame: dict, now: int) -> None:
        kind = frame.get("type")
        if kind == "message":
            self.on_message(sock, frame, now)
        elif kind == "ack":
            self.on_ack(sock, frame, now)
        elif kind == "error":
            code = str(frame.get("code"))
            self.errors[code] += 1
            if self.phase == "setup":
                self.setup_errors[code] += 1
            if sock.pending_claim is not None and not sock.pending_claim.done():
                sock.pending_claim.set_exception(SetupError(code))
            elif sock.kind == "visitor" and ("started",) in sock.waiters:
                sock.fail_all(code)
        elif kind == "started":
            sock.resolve(("started",), frame)
        elif kind == "hello":
            sock.resolve(("hello",), frame)
        elif kind == "assigned":
            conv = frame.get("conversation")
            cid = conv.get("id") if isinstance(conv, dict) else None
            if isinstance(conv, dict) and isinstance(conv.get("history"), list):
                self.on_history(sock, cid, conv["history"], now)
            if sock.pending_claim is not None and not sock.pending_claim.done():
                sock.pending_claim.set_result(cid)
            else:
                self.ignored["assigned(unclaimed)"] += 1
        elif kind == "queue" and sock.kind == "operator":
            self.ignored[f"{sock.kind}:{kind}"] += 1
            items = frame.get("items")
            for item in items if isinstance(items, list) else []:
                cid = item.get("conversation") if isinstance(item, dict) else None
                if isinstance(cid, str) and cid not in self.queue_seen_ns:
                    self.queue_seen_ns[cid] = now
        elif kind == "released":
            sock.resolve(("released", frame.get("conversation")), frame)
        elif kind == "joined" and self.args.target == "relay":
            sock.resolve(("joined", frame.get("room")), frame)
        else:
            self.ignored[f"{sock.kind}:{kind}"] += 1

    def on_ack(self, sock: Sock, frame: dict, now: int) -> None:
        msg_id = frame.get("id")
        sent = self.sent.get(msg_id) if isinstance(msg_id, str) else None
        if sent is None:
            self.ignored[f"{sock.kind}:ack(unknown)"] += 1
            return
        if msg_id in self.acked:
            self.errors["client:duplicate_ack"] += 1
            return
        self.acked[msg_id] = now
        self.progress_at = time.monotonic()
        self.ack_lat.append(now - sent.t_ns)
        seq = frame.get("seq")
        if isinstance(seq, int):
            self.convs[sent.conv].seqs[sock.kind].append((seq, f"ack {msg_id}"))

    def on_message(self, sock: Sock, frame: dict, now: int) -> None:
        # Which conversation did it arrive on?
        if self.args.target == "relay":
            conv = self.by_room.get(str(frame.get("room")))
        elif sock.kind == "operator":
            conv = self.by_room.get(str(frame.get("conversation")))
        else:
            conv = sock.conversations[0] if sock.conversations else None
        seq = frame.get("seq")
        if conv is not None and isinstance(seq, int) and self.phase != "setup":
            label = (
                f"message from={frame.get('from')} text={str(frame.get('text'))[:60]!r}"
            )
            conv.seqs[sock.kind].append((seq, label))
        parsed = self.parse_text(frame.get("text"))
        if parsed is None:
            self.ignored[f"{sock.kind}:message(other)"] += 1
            return
        t_send, msg_id = parsed
        sent = self.sent.get(msg_id)
        if sent is None:
            self.foreign += 1  # not ours: an earlier run, or history
            return
        expected_dir = V2O if sock.kind == "operator" else O2V
        if sent.direction != expected_dir:
            self.echoes += 1
            return
        if conv is None or conv.index != sent.conv:
            self.misrouted += 1
            return
        self.delivered[msg_id] += 1
        if self.delivered[msg_id] > 1:
            return
        self.lat[sent.direction].append(now - t_send)
        self.lat_at.append((t_send, now - t_send))
        self.last_delivery_ns = max(self.last_delivery_ns, now)
        self.progress_at = time.monotonic()

    def on_history(self, sock: Sock, cid: Any, history: list, now: int) -> None:
        """Count messages that reach an operator in a claim's history.

        A visitor's message sent while the conversation waited (a requeue)
        arrives in the ``assigned`` frame, not as a ``message`` frame; only
        those not delivered before count, so history adds no duplicate.
        """
        for item in history:
            if not isinstance(item, dict):
                continue
            parsed = self.parse_text(item.get("text"))
            if parsed is not None and self.delivered.get(parsed[1], 0) == 0:
                frame = {**item, "type": "message", "conversation": cid}
                self.on_message(sock, frame, now)

    # ---- setup ----------------------------------------------------------

    async def open_operator(self, j: int) -> Sock:
        sock = Sock(self, "operator", "")
        sock.url = self.endpoint(self.take_url(), "operator")
        headers: dict[str, str] = {}
        if self.args.target == "product":
            headers["Cookie"] = f"sessionid={self.sessions[j]}"
            hello = sock.expect(("hello",))
        await sock.open(headers)
        if self.args.target == "product":
            await asyncio.wait_for(hello, self.args.step_timeout)
        return sock

    async def open_conversation(self, conv: Conversation, op: Sock) -> None:
        visitor = Sock(self, "visitor", self.endpoint(self.take_url(), "visitor"))
        conv.visitor = visitor
        conv.operator = op
        visitor.conversations.append(conv)
        timeout = self.args.step_timeout
        if self.args.target == "relay":
            await visitor.open({})
            conv.room = f"b{self.run_tag}-{conv.index}"
            self.by_room[conv.room] = conv
            joined_v = visitor.expect(("joined", conv.room))
            joined_o = op.expect(("joined", conv.room))
            await visitor.send({"type": "join", "room": conv.room})
            await op.send({"type": "join", "room": conv.room})
            await asyncio.wait_for(asyncio.gather(joined_v, joined_o), timeout)
        else:
            await self.start_visitor(conv)
            await self.claim(conv, op)
        op.conversations.append(conv)
        conv.ready = True
        if conv.index < self.args.conversations:
            self.note_warm(conv)

    def note_warm(self, conv: Conversation) -> None:
        """Read the servers' memory when the first tenth is open (once)."""
        self.warm_ready += 1
        if self.warm_rss is None and self.warm_ready >= self.warm_at:
            self.warm_rss = {pid: read_rss_kib(pid) for pid in self.args.server_pid}
            self.warm_sockets = self.open_socket_count()

    def open_socket_count(self) -> int:
        """Sockets the server holds open: handshake done, not closed since.

        A visitor whose start or claim failed still costs its socket. Surge
        sockets count while they are open: a requeue surge's 100 visitors
        and their operators are open when the memory is read after the
        set-up, and leaving them out put their memory on the others'
        account (about 60 KiB a socket instead of about 42).
        """
        every = [c.visitor for c in self.convs + self.surge_convs if c.visitor]
        every += self.operators + self.surge_operators
        return sum(
            1 for sock in every if sock.ws is not None and sock.closed_code is None
        )

    async def start_visitor(self, conv: Conversation) -> None:
        """Open the visitor's socket and start its conversation (product)."""
        visitor = conv.visitor
        assert visitor is not None
        started = visitor.expect(("started",))
        await visitor.open({})
        self.start_sent_ns[conv.index] = time.time_ns()
        await visitor.send(
            {
                "type": "start",
                "place": self.args.place,
                "role": "victim",
                "service": self.args.service,
            }
        )
        frame = await asyncio.wait_for(started, self.args.step_timeout)
        cid = frame.get("conversation")
        if not isinstance(cid, str) or not frame.get("token"):
            raise SetupError("client:bad_started_frame")
        conv.room = cid
        self.by_room[cid] = conv

    async def claim(self, conv: Conversation, op: Sock) -> None:
        """Claim ``conv`` from ``op``'s socket (one claim at a time per socket)."""
        async with op.claim_lock:
            op.pending_claim = asyncio.get_running_loop().create_future()
            await op.send({"type": "claim", "conversation": conv.room})
            try:
                got = await asyncio.wait_for(op.pending_claim, self.args.step_timeout)
            finally:
                op.pending_claim = None
        if got != conv.room:
            raise SetupError("client:assigned_other_conversation")

    async def setup_operator(self, j: int, convs: list[Conversation]) -> None:
        try:
            op = await self.open_operator(j)
        except Exception as exc:
            self.setup_errors[f"operator:{describe(exc)}"] += len(convs)
            return
        self.operators.append(op)
        for conv in convs:
            try:
                await self.open_conversation(conv, op)
            except Exception as exc:
                op.pending_claim = None
                self.setup_errors[f"conversation:{describe(exc)}"] += 1

    async def setup(self) -> None:
        k = self.args.per_operator
        groups = [self.convs[i : i + k] for i in range(0, len(self.convs), k)]
        if self.args.target == "product" and len(self.sessions) < len(groups):
            raise SystemExit(
                f"need {len(groups)} operator sessions, have {len(self.sessions)}"
            )
        sem = asyncio.Semaphore(self.args.setup_concurrency)

        async def one(j: int, convs: list[Conversation]) -> None:
            async with sem:
                await self.setup_operator(j, convs)

        tasks = [asyncio.create_task(one(j, g)) for j, g in enumerate(groups)]
        _, pending = await asyncio.wait(tasks, timeout=self.args.setup_timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if pending:
            # Go on with the conversations that are ready; count the rest.
            missing = sum(1 for c in self.convs if not c.ready)
            self.setup_errors["client:setup_deadline"] += missing

    # ---- surges ---------------------------------------------------------

    def surge_groups(self) -> list[list[Conversation]]:
        k = self.args.per_operator
        return [self.surge_convs[i : i + k] for i in range(0, len(self.surge_convs), k)]

    async def open_surge_operators(self) -> list[tuple[Sock, list[Conversation]]]:
        base = math.ceil(len(self.convs) / self.args.per_operator)
        groups = self.surge_groups()
        opened = await asyncio.gather(
            *(self.open_operator(base + j) for j in range(len(groups))),
            return_exceptions=True,
        )
        pairs = []
        for op, convs in zip(opened, groups, strict=True):
            if isinstance(op, BaseException):
                self.surge_errors[f"operator:{describe(op)}"] += len(convs)
                continue
            self.surge_operators.append(op)
            pairs.append((op, convs))
        return pairs

    async def surge_arrive(self, pairs: list[tuple[Sock, list[Conversation]]]) -> None:
        """Every surge visitor starts at once, then each is claimed."""

        async def one(op: Sock, conv: Conversation) -> None:
            conv.visitor = Sock(
                self, "visitor", self.endpoint(self.take_url(), "visitor")
            )
            conv.visitor.conversations.append(conv)
            conv.operator = op
            try:
                await self.start_visitor(conv)
                await self.claim(conv, op)
            except Exception as exc:
                self.surge_errors[f"conversation:{describe(exc)}"] += 1
                return
            op.conversations.append(conv)
            conv.ready = True

        await asyncio.gather(*(one(op, c) for op, convs in pairs for c in convs))

    async def release_and_reclaim(self) -> None:
        """Release every surge conversation at once, then claim them back."""
        ready = [c for c in self.surge_convs if c.ready and c.operator is not None]
        waits = []
        for conv in ready:
            assert conv.operator is not None
            waits.append(conv.operator.expect(("released", conv.room)))
        await asyncio.gather(
            *(
                c.operator.send({"type": "release", "conversation": c.room})
                for c in ready
                if c.operator is not None
            )
        )
        results = await asyncio.gather(
            *(asyncio.wait_for(w, self.args.step_timeout) for w in waits),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                self.surge_errors[f"release:{describe(result)}"] += 1

        async def reclaim(conv: Conversation) -> None:
            assert conv.operator is not None
            try:
                await self.claim(conv, conv.operator)
            except Exception as exc:
                conv.ready = False
                self.surge_errors[f"reclaim:{describe(exc)}"] += 1

        await asyncio.gather(*(reclaim(c) for c in ready))

    async def surge(self, at: float) -> None:
        """Run the surge at monotonic time ``at``; record its window."""
        delay = at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        start_ns = time.time_ns()
        t = time.monotonic()
        if self.args.surge == "arrive":
            await self.surge_arrive(await self.open_surge_operators())
        else:
            await self.release_and_reclaim()
        self.surge_s = round(time.monotonic() - t, 2)
        self.surge_window_ns = (start_ns, time.time_ns())

    # ---- the message phase ----------------------------------------------

    async def sender(self, conv: Conversation, direction: str, t0: float) -> None:
        interval = 1.0 / self.args.rate
        phase = random.uniform(0, interval)
        jitter = self.args.jitter
        sock = conv.visitor if direction == V2O else conv.operator
        assert sock is not None
        for k in range(self.args.messages):
            target = t0 + phase + k * interval
            target += random.uniform(-jitter, jitter) * interval
            delay = target - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            msg_id = str(uuid.uuid4())
            t_ns = time.time_ns()
            frame: dict[str, Any] = {
                "type": "message",
                "id": msg_id,
                "text": self.make_text(msg_id, t_ns),
            }
            if self.args.target == "relay":
                frame["room"] = conv.room
            elif direction == O2V:
                frame["conversation"] = conv.room
            self.sent[msg_id] = Sent(t_ns, direction, conv.index)
            if not self.first_send_ns:
                self.first_send_ns = t_ns
            self.last_send_ns = t_ns
            if not await sock.send(frame):
                self.errors["client:send_on_closed_socket"] += 1
                return

    async def loop_lag_monitor(self, stop: asyncio.Event) -> None:
        tick = 0.05
        for _ in range(int(self.args.timeout / tick) + 1):
            before = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)
            if stop.is_set():
                return
            self.loop_lag_ms.append(max(0.0, (time.monotonic() - before - tick) * 1e3))

    def start_to_queue(self) -> dict[str, Any]:
        """From a visitor's start to its first sight in an operator's queue.

        Only conversations some operator socket saw waiting count (a fast
        claim can beat the queue frame).
        """
        waits = [
            self.queue_seen_ns[c.room] - self.start_sent_ns[c.index]
            for c in self.convs + self.surge_convs
            if c.room in self.queue_seen_ns and c.index in self.start_sent_ns
        ]
        return {"seen": len(waits), **summarize_ms(waits)}

    def latency_by_second(self) -> list[dict[str, Any]]:
        return by_second(self.lat_at, self.first_send_ns)

    def surge_result(self) -> dict[str, Any] | None:
        """Latency of the measured conversations around the surge."""
        if not self.surge_convs:
            return None
        result: dict[str, Any] = {
            "mode": self.args.surge,
            "size": len(self.surge_convs),
            "ready": sum(1 for c in self.surge_convs if c.ready),
            "duration_s": self.surge_s,
            "errors": dict(self.surge_errors),
        }
        if self.surge_window_ns is not None:
            start, end = self.surge_window_ns
            # Messages sent while the surge ran, and for 5 s after it.
            window = [
                lat for t, lat in self.lat_at if start <= t <= end + 5_000_000_000
            ]
            outside = [lat for t, lat in self.lat_at if not start <= t <= end + 5e9]
            result["others_latency_ms_during"] = summarize_ms(window)
            result["others_latency_ms_outside"] = summarize_ms(outside)
        return result

    def pending_ids(self) -> list[str]:
        return [i for i in self.sent if i not in self.acked or self.delivered[i] == 0]

    async def drain(self) -> float:
        """Wait for what is still in flight: until nothing is pending, or
        nothing progressed for ``--drain`` s, or ``--max-drain`` s passed."""
        start = time.monotonic()
        deadline = start + self.args.max_drain
        self.progress_at = max(self.progress_at, start)
        while time.monotonic() < deadline:
            if not self.pending_ids():
                break
            if time.monotonic() - self.progress_at > self.args.drain:
                break
            await asyncio.sleep(0.1)
        return time.monotonic() - start

    async def close_conversations(self) -> None:
        """End each conversation the way an operator does (product only)."""
        if self.args.target != "product" or not self.args.close:
            return
        frames = [
            conv.operator.send(
                {"type": "close", "conversation": conv.room, "outcome": "other"}
            )
            for conv in self.convs + self.surge_convs
            if conv.ready and conv.operator is not None
        ]
        await asyncio.gather(*frames)
        await asyncio.sleep(self.args.close_wait)

    # ---- the run --------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        args = self.args
        if args.target == "product":
            self.sessions = json.loads(Path(args.sessions).read_text())["sessions"]
            self.sessions = self.sessions[args.session_offset :]
        pids = args.server_pid
        rss_before = {pid: read_rss_kib(pid) for pid in pids}

        t_setup = time.monotonic()
        await self.setup()
        if args.surge == "requeue":
            # Opened beforehand, ten at a time: the surge is their requeue.
            pairs = await self.open_surge_operators()
            sem = asyncio.Semaphore(10)

            async def opened(op: Sock, convs: list[Conversation]) -> None:
                async with sem:
                    for conv in convs:
                        try:
                            await self.open_conversation(conv, op)
                        except Exception as exc:
                            self.surge_errors[f"setup:{describe(exc)}"] += 1

            await asyncio.gather(*(opened(op, convs) for op, convs in pairs))
        setup_s = time.monotonic() - t_setup
        ready = [c for c in self.convs if c.ready]
        sockets = len(self.operators) + sum(1 for c in self.convs if c.visitor)
        open_sockets = self.open_socket_count()

        await asyncio.sleep(args.settle)
        rss_after = {pid: read_rss_kib(pid) for pid in pids}
        total_before = sum(v or 0 for v in rss_before.values())
        total_after = sum(v or 0 for v in rss_after.values())
        kib_incl_warmup = (
            round((total_after - total_before) / open_sockets, 1)
            if open_sockets and pids
            else None
        )
        # The slope from the first tenth to all: first-use costs excluded.
        kib_per_socket = None
        warm_total = sum(v or 0 for v in (self.warm_rss or {}).values())
        later_sockets = open_sockets - self.warm_sockets
        if self.warm_rss is not None and pids and later_sockets > 0:
            kib_per_socket = round((total_after - warm_total) / later_sockets, 1)

        self.phase = "messages"
        self.errors.clear()
        self.ignored.clear()
        cpu_before = {pid: read_cpu_seconds(pid) for pid in pids}
        gen_cpu_before = time.process_time()
        machine_before = read_machine_cpu()
        load_before = os.getloadavg()
        stop = asyncio.Event()
        lag_task = asyncio.create_task(self.loop_lag_monitor(stop))
        t_msgs = time.monotonic()
        t0 = time.monotonic() + 0.2
        senders = [
            asyncio.create_task(self.sender(conv, direction, t0))
            for conv in ready
            for direction in (V2O, O2V)
        ]
        # A saturated server stops reading, so sends block (TCP
        # backpressure): give up on the schedule after twice its length.
        schedule_s = args.messages / args.rate
        surge_task = None
        if self.surge_convs:
            at = args.surge_at if args.surge_at is not None else schedule_s / 3
            surge_task = asyncio.create_task(self.surge(t0 + at))
        _, late = await asyncio.wait(senders, timeout=2 * schedule_s + 10)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        if late:
            self.errors["client:send_deadline"] += len(late)
        send_s = time.monotonic() - t_msgs
        if surge_task is not None:
            try:
                await asyncio.wait_for(surge_task, args.step_timeout * 2)
            except Exception as exc:
                self.surge_errors[f"surge:{describe(exc)}"] += 1
        drain_s = await self.drain()
        msg_phase_s = time.monotonic() - t_msgs
        stop.set()
        await lag_task
        cpu_after = {pid: read_cpu_seconds(pid) for pid in pids}
        gen_cpu = time.process_time() - gen_cpu_before
        machine_after = read_machine_cpu()
        load_after = os.getloadavg()
        ours = gen_cpu + sum(
            (cpu_after[p] or 0) - (cpu_before[p] or 0)
            for p in pids
            if cpu_before.get(p) is not None and cpu_after.get(p) is not None
        )
        server_cpu_s = (
            round(sum((cpu_after[p] or 0) - (cpu_before[p] or 0) for p in pids), 3)
            if pids and all(cpu_before.get(p) is not None for p in pids)
            else None
        )
        busy = machine_after[0] - machine_before[0]
        cores = os.cpu_count() or 1
        # CPU used by everything else on the machine (other work, databases,
        # Redis) during the message phase, in % of one core.
        other_cpu_pct = (
            round(100 * max(0.0, busy - ours) / msg_phase_s, 1) if msg_phase_s else None
        )
        machine_busy_pct = (
            round(100 * busy / msg_phase_s / cores, 1) if msg_phase_s else None
        )

        acked = set(self.acked)
        delivered_ids = {i for i, n in self.delivered.items() if n > 0}
        lost = sorted(acked - delivered_ids)
        lost_receiver_closed = 0
        for msg_id in lost:
            sent = self.sent[msg_id]
            conv = self.convs[sent.conv]
            receiver = conv.operator if sent.direction == V2O else conv.visitor
            if receiver is not None and receiver.closed_code is not None:
                lost_receiver_closed += 1
        unacked = [i for i in self.sent if i not in acked]
        delivered_unacked = len(delivered_ids - acked)
        duplicates = sum(n - 1 for n in self.delivered.values() if n > 1)
        all_lat = self.lat[V2O] + self.lat[O2V]
        span_s = (
            (self.last_delivery_ns - self.first_send_ns) / 1e9
            if self.last_delivery_ns > self.first_send_ns
            else 0.0
        )
        seq_gaps = 0
        seq_dups = 0
        seq_dup_samples: list[dict[str, Any]] = []
        for conv in ready:
            for side, seqs in conv.seqs.items():
                if not seqs:
                    continue
                by_seq: dict[int, list[str]] = {}
                for seq, label in seqs:
                    by_seq.setdefault(seq, []).append(label)
                seq_dups += len(seqs) - len(by_seq)
                seq_gaps += (max(by_seq) - min(by_seq) + 1) - len(by_seq)
                for seq, labels in by_seq.items():
                    if len(labels) > 1 and len(seq_dup_samples) < 5:
                        seq_dup_samples.append(
                            {
                                "conversation": conv.room,
                                "seen_by": side,
                                "seq": seq,
                                "frames": labels,
                            }
                        )
        lag = sorted(self.loop_lag_ms)

        def cpu_pct(pid: int) -> float | None:
            a, b = cpu_before.get(pid), cpu_after.get(pid)
            if a is None or b is None or msg_phase_s <= 0:
                return None
            return round(100 * (b - a) / msg_phase_s, 1)

        result: dict[str, Any] = {
            "target": args.target,
            "urls": self.urls,
            "conversations": args.conversations,
            "conversations_ready": len(ready),
            "operator_sockets": len(self.operators),
            "sockets_opened": sockets,
            "sockets_open_at_rss": open_sockets,
            "messages_per_direction": args.messages,
            "rate_per_direction": args.rate,
            "setup_s": round(setup_s, 2),
            "send_s": round(send_s, 2),
            "drain_s": round(drain_s, 2),
            "sent": len(self.sent),
            "unsent": 2 * len(ready) * args.messages - len(self.sent),
            "acked": len(acked),
            "delivered": len(delivered_ids),
            "lost": len(lost),
            "lost_receiver_closed": lost_receiver_closed,
            "lost_sample": lost[:5],
            "unacked": len(unacked),
            "delivered_unacked": delivered_unacked,
            "duplicates": duplicates,
            "misrouted": self.misrouted,
            "echoes": self.echoes,
            "foreign": self.foreign,
            "seq_gaps": seq_gaps,
            "seq_duplicates": seq_dups,
            "seq_duplicate_samples": seq_dup_samples,
            "latency_ms": summarize_ms(all_lat),
            "latency_ms_by_direction": {
                d: summarize_ms(v) for d, v in self.lat.items()
            },
            "ack_ms": summarize_ms(self.ack_lat),
            "latency_ms_by_second": self.latency_by_second(),
            "delivered_per_s": round(len(delivered_ids) / span_s, 1) if span_s else 0,
            "offered_per_s": round(2 * len(ready) * args.rate, 1),
            "errors": dict(self.errors),
            "setup_errors": dict(self.setup_errors),
            "ignored_frames": dict(self.ignored),
            "rss_kib_before": rss_before,
            "rss_kib_after": rss_after,
            "rss_kib_warm": self.warm_rss,
            "sockets_open_warm": self.warm_sockets,
            "kib_per_socket": kib_per_socket,
            "kib_per_socket_incl_warmup": kib_incl_warmup,
            "server_cpu_pct": {pid: cpu_pct(pid) for pid in pids},
            # Server CPU (all its processes) per distinct delivered message.
            "server_cpu_ms_per_msg": round(1e3 * server_cpu_s / len(delivered_ids), 3)
            if delivered_ids and server_cpu_s is not None
            else None,
            "server_cpu_s": server_cpu_s,
            "surge": self.surge_result(),
            "start_to_queue_ms": self.start_to_queue()
            if args.target == "product"
            else None,
            "loadgen_cpu_pct": round(100 * gen_cpu / msg_phase_s, 1)
            if msg_phase_s
            else None,
            "other_cpu_pct": other_cpu_pct,
            "machine_busy_pct": machine_busy_pct,
            "loadavg_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
            "loadgen_loop_lag_ms": {
                "p50": round(percentile(lag, 50) or 0, 2),
                "p99": round(percentile(lag, 99) or 0, 2),
                "max": round(lag[-1], 2) if lag else None,
            },
        }

        self.result = result
        self.closing = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.close_conversations(), args.close_wait + 10)
        socks = [c.visitor for c in self.convs + self.surge_convs if c.visitor]
        socks += self.operators + self.surge_operators
        try:
            await asyncio.wait_for(
                asyncio.gather(*(sock.close() for sock in socks)), 15
            )
        except TimeoutError:
            for sock in socks:
                if sock.ws is not None:
                    sock.ws.transport.abort()
        return result


def describe(exc: BaseException) -> str:
    if isinstance(exc, SetupError):
        return exc.code
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "client:timeout"
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status is not None:
        return f"client:http_{status}"
    return f"client:{type(exc).__name__}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--target", choices=["product", "relay"], default="product")
    p.add_argument(
        "--url",
        action="append",
        required=True,
        help="ws://127.0.0.1:PORT of a server process; repeat for several",
    )
    p.add_argument("--conversations", "-n", type=int, default=100)
    p.add_argument("--messages", "-m", type=int, default=20)
    p.add_argument("--rate", type=float, default=1.0, help="msgs/s each way")
    p.add_argument("--jitter", type=float, default=0.4, help="fraction of interval")
    p.add_argument("--per-operator", "-k", type=int, default=5)
    p.add_argument("--sessions", help="JSON file from bench.setup_data")
    p.add_argument("--session-offset", type=int, default=0)
    p.add_argument("--service", default="bench")
    p.add_argument("--place", default="33000")
    p.add_argument("--text-chars", type=int, default=120)
    p.add_argument("--server-pid", type=int, action="append", default=[])
    p.add_argument("--setup-concurrency", type=int, default=20)
    p.add_argument("--open-timeout", type=float, default=30.0)
    p.add_argument("--step-timeout", type=float, default=30.0)
    p.add_argument(
        "--setup-timeout",
        type=float,
        default=150.0,
        help="stop opening conversations after this long, go on with the ready",
    )
    p.add_argument("--settle", type=float, default=2.0)
    p.add_argument(
        "--drain", type=float, default=5.0, help="stop when idle this long, s"
    )
    p.add_argument("--max-drain", type=float, default=30.0, help="drain at most, s")
    p.add_argument("--close", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--close-wait", type=float, default=2.0)
    p.add_argument("--timeout", type=float, default=480.0, help="whole run, s")
    p.add_argument("--json-out", help="write the result here (else stdout)")
    p.add_argument(
        "--surge",
        choices=["none", "arrive", "requeue"],
        default="none",
        help="arrive: SURGE_SIZE more visitors start and are claimed at once; "
        "requeue: SURGE_SIZE claimed conversations are released at once, "
        "then claimed back (product only)",
    )
    p.add_argument("--surge-size", type=int, default=100)
    p.add_argument(
        "--surge-at", type=float, help="s into the message phase (default 1/3)"
    )
    args = p.parse_args(argv)
    for url in args.url:
        host = urlsplit(url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            p.error(f"loopback only: {url}")
    if args.target == "product" and not args.sessions:
        p.error("--sessions is required for --target product")
    if args.rate <= 0 or args.messages < 0 or args.conversations < 1:
        p.error("bad --rate/--messages/--conversations")
    return args


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    gen = LoadGen(args)
    try:
        return await asyncio.wait_for(gen.run(), args.timeout)
    except TimeoutError:
        if gen.result is None:
            raise
        gen.result["note"] = "timed out while closing the sockets"
        return gen.result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    fd_limit = raise_fd_limit()
    sockets = args.conversations + math.ceil(args.conversations / args.per_operator)
    if fd_limit < sockets + 64:
        print(f"open-files limit {fd_limit} < {sockets + 64}", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(amain(args))
    except TimeoutError:
        result = {"target": args.target, "error": f"timeout after {args.timeout}s"}
    result["fd_limit"] = fd_limit
    text = json.dumps(result, indent=2, default=str)
    if args.json_out:
        Path(args.json_out).write_text(text)
    else:
        print(text)
    print(human_summary(result), file=sys.stderr)
    return 0 if "error" not in result else 1


def human_summary(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"[{r['target']}] {r['error']}"
    lat = r["latency_ms"]
    return (
        f"[{r['target']}] N={r['conversations']} ready={r['conversations_ready']} "
        f"setup={r['setup_s']}s p50={lat['p50']} p95={lat['p95']} "
        f"p99={lat['p99']} max={lat['max']} ms, {r['delivered_per_s']} msg/s, "
        f"lost={r['lost']} unacked={r['unacked']} dup={r['duplicates']} "
        f"KiB/socket={r['kib_per_socket']} errors={r['errors']} "
        f"setup_errors={r['setup_errors']}"
    )


if __name__ == "__main__":
    sys.exit(main())
