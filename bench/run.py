"""One full benchmark run: configs x sizes x targets (``python -m bench.run``).

For each config:

- ``demo``: SQLite in a temporary directory, in-memory channel layer, one
  Daphne process;
- ``prod``: a fresh PostgreSQL database (dropped at the end), Redis with a
  unique ``CHANNEL_PREFIX``, one Daphne process per core on its own port;

it prepares the database in subprocesses (``migrate``, ``import_communes``
when the command exists, ``bench.setup_data``), then for each size and target
starts the servers, runs ``bench.loadgen`` in its own process, collects its
JSON and stops the servers. Every child runs in its own process group and is
ended on exit, error or Ctrl-C; every wait is bounded.

Results: a table on stdout and ``bench/results/<timestamp>.json``; server
logs in ``bench/results/<timestamp>/``.
"""

import argparse
import base64
import contextlib
import json
import math
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
PYTHON = str(BASE_DIR / ".venv/bin/python")
DAPHNE = str(BASE_DIR / ".venv/bin/daphne")
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
APPS = {"product": "config.asgi:application", "relay": "bench.relay:application"}


class Children:
    """Every process we started; ended by process group at exit."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def popen(self, cmd: list[str], **kwargs: Any) -> subprocess.Popen:
        proc = subprocess.Popen(cmd, start_new_session=True, **kwargs)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, grace: float = 5.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.procs):
            self.stop(proc)

    def run(self, cmd: list[str], timeout: float, **kwargs: Any) -> int:
        """Run to completion within ``timeout`` seconds; return its code."""
        proc = self.popen(cmd, **kwargs)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            print(f"timeout after {timeout}s: {' '.join(cmd)}", file=sys.stderr)
            return -1
        finally:
            self.stop(proc)


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(start: int, count: int) -> list[int]:
    ports: list[int] = []
    for port in range(start, start + 200):
        if port_is_free(port):
            ports.append(port)
            if len(ports) == count:
                return ports
    raise RuntimeError(f"no {count} free ports from {start}")


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


PROBE_LOOPS = 1_000_000


def cpu_probe_ms() -> float:
    """How fast this machine runs Python now: the best of three timings of
    a fixed loop, in ms.

    The machines are virtual and shared: the same code, alone on one, ran
    this loop from one run to the next up to 2.5 times slower, and every
    figure of the run with it. Compare runs only when their probes agree.
    """
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        total = 0
        for i in range(PROBE_LOOPS):
            total += i
        best = min(best, time.perf_counter() - start)
    return round(best * 1000, 1)


class Config:
    """One server configuration: its environment and its database."""

    def __init__(self, name: str, workdir: Path, tag: str) -> None:
        self.name = name
        self.workdir = workdir
        self.tag = tag
        self.db_name = f"ecoute_bench_{tag}" if name == "prod" else ""
        self.processes = (os.cpu_count() or 1) if name == "prod" else 1
        self.env = self.make_env()

    def make_env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in {
                "DATABASE_URL",
                "REDIS_URL",
                "CHANNEL_PREFIX",
                "SECRET_KEY",
                "CHANNEL_LAYER_KEYS",
                "MESSAGE_KEYS",
                "AUDIT_CHAIN_SEED",
                "AUDIT_SIGNING_KEY",
            }
        }
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "SECRET_KEY": secrets.token_urlsafe(50),
                "CHANNEL_LAYER_KEYS": secrets.token_urlsafe(32),
                "MESSAGE_KEYS": "k1:"
                + base64.urlsafe_b64encode(os.urandom(32)).decode(),
                "AUDIT_CHAIN_SEED": base64.urlsafe_b64encode(os.urandom(32)).decode(),
                "AUDIT_SIGNING_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "SECRETS_FILE": "/nonexistent",
                "DEBUG": "0",
                "CHAT_RATE_PER_SECOND": "50",
                "CHAT_RATE_BURST": "100",
                # The load comes from 127.0.0.1, one client key.
                "ADMISSION_SOCKETS_PER_CLIENT": "1000000",
                "ADMISSION_STARTS_PER_CLIENT": "1000000",
                "QUEUE_CEILING_PER_SERVICE": "1000000",
                # It measures what N conversations cost: none is shed.
                "OVERLOAD_LAG_SECONDS": "1000000",
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": str(BASE_DIR),
            }
        )
        if self.name == "prod":
            env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{self.db_name}"
            env["REDIS_URL"] = REDIS_URL
            env["CHANNEL_PREFIX"] = f"bench{self.tag}"
        else:
            env["DATABASE_URL"] = f"sqlite:///{self.workdir / 'bench.sqlite3'}"
        return env

    def create_db(self) -> None:
        if self.name != "prod":
            return
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.db_name}"')

    def drop_db(self) -> None:
        if self.name != "prod":
            return
        import psycopg

        try:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        except Exception as exc:
            print(f"could not drop {self.db_name}: {exc}", file=sys.stderr)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.children = Children()
        self.stamp = time.strftime("%Y%m%d-%H%M%S")
        self.results_dir = BENCH_DIR / "results"
        self.log_dir = self.results_dir / self.stamp
        self.tmp = Path(tempfile.mkdtemp(prefix="ecoute-bench-"))
        self.runs: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self.configs: list[Config] = []

    def log(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[{elapsed:7.1f}s] {text}", file=sys.stderr, flush=True)

    def run_timeout(self) -> float:
        """Bound of one load generator run: setup, sending, drain, margin."""
        if self.args.run_timeout:
            return self.args.run_timeout
        a = self.args
        # setup, sending (at most twice its schedule + 10 s), drain, closing
        surge = 2 * 30 + 30 if a.surges else 0
        return (
            a.setup_timeout
            + 2 * a.messages / min(a.rate)
            + 10
            + a.max_drain
            + 60
            + surge
        )

    def out_of_time(self) -> bool:
        return time.monotonic() - self.started > self.args.total_timeout

    # ---- preparation ------------------------------------------------------

    def manage(self, cfg: Config, *cmd: str, timeout: float = 300) -> int:
        log = self.log_dir / f"{cfg.name}-prepare.log"
        with log.open("a") as handle:
            handle.write(f"$ {' '.join(cmd)}\n")
            handle.flush()
            return self.children.run(
                [PYTHON, *cmd],
                timeout,
                cwd=BASE_DIR,
                env=cfg.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )

    def prepare(self, cfg: Config, operators: int) -> Path:
        self.log(f"{cfg.name}: preparing database")
        cfg.create_db()
        if self.manage(cfg, "manage.py", "migrate", "--noinput", "-v", "0"):
            raise RuntimeError(
                f"{cfg.name}: migrate failed:\n"
                + tail(self.log_dir / f"{cfg.name}-prepare.log")
            )
        if (BASE_DIR / "chat/management/commands/import_communes.py").exists():
            self.log(f"{cfg.name}: import_communes")
            if self.manage(cfg, "manage.py", "import_communes", timeout=600):
                raise RuntimeError(
                    f"{cfg.name}: import_communes failed:\n"
                    + tail(self.log_dir / f"{cfg.name}-prepare.log")
                )
        if (BASE_DIR / "anonymity/management/commands/create_sealing_keys.py").exists():
            custodian = cfg.workdir / "custodian"
            self.log(f"{cfg.name}: create_sealing_keys")
            if self.manage(
                cfg,
                "manage.py",
                "create_sealing_keys",
                "--install",
                "--out",
                str(custodian),
                "--passphrase-file",
                str(custodian / "passphrase"),
            ):
                raise RuntimeError(
                    f"{cfg.name}: create_sealing_keys failed:\n"
                    + tail(self.log_dir / f"{cfg.name}-prepare.log")
                )
        sessions = cfg.workdir / "sessions.json"
        self.log(f"{cfg.name}: {operators} operator accounts")
        if self.manage(
            cfg,
            "-m",
            "bench.setup_data",
            "--operators",
            str(operators),
            "--per-operator",
            str(self.args.per_operator),
            "--out",
            str(sessions),
        ):
            raise RuntimeError(
                f"{cfg.name}: setup_data failed:\n"
                + tail(self.log_dir / f"{cfg.name}-prepare.log")
            )
        return sessions

    # ---- servers ----------------------------------------------------------

    def start_servers(
        self, cfg: Config, target: str, label: str
    ) -> list[tuple[subprocess.Popen, int]]:
        ports = free_ports(self.args.base_port, cfg.processes)
        servers: list[tuple[subprocess.Popen, int]] = []
        for i, port in enumerate(ports):
            log = (self.log_dir / f"{label}-server{i}.log").open("w")
            proc = self.children.popen(
                [
                    DAPHNE,
                    "-v",
                    "0",
                    "--no-server-name",
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    APPS[target],
                ],
                cwd=BASE_DIR,
                env=cfg.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
            servers.append((proc, port))
        for i, (proc, port) in enumerate(servers):
            if not wait_for_port(port, proc, 60):
                raise RuntimeError(
                    f"{label}: server on port {port} did not start:\n"
                    + tail(self.log_dir / f"{label}-server{i}.log")
                )
        return servers

    def stop_servers(self, servers: list[tuple[subprocess.Popen, int]]) -> None:
        for proc, _ in servers:
            self.children.stop(proc)

    # ---- one run ----------------------------------------------------------

    def one_run(
        self,
        cfg: Config,
        target: str,
        n: int,
        sessions: Path,
        offset: int,
        rate: float,
        surge: str = "none",
    ) -> dict[str, Any]:
        label = f"{cfg.name}-{target}-{n}-r{rate:g}"
        if surge != "none":
            label += f"-{surge}"
        probe_before = cpu_probe_ms()
        self.log(
            f"{label}: starting {cfg.processes} server(s), probe {probe_before} ms"
        )
        servers = self.start_servers(cfg, target, label)
        profilers = []
        try:
            time.sleep(1.0)
            if self.args.profile:
                profilers = self.start_profilers(servers, label)
            out = self.log_dir / f"{label}-loadgen.json"
            cmd = [
                PYTHON,
                "-m",
                "bench.loadgen",
                "--target",
                target,
                "--conversations",
                str(n),
                "--messages",
                str(self.args.messages),
                "--rate",
                str(rate),
                "--surge",
                surge,
                "--surge-size",
                str(self.args.surge_size),
                "--per-operator",
                str(self.args.per_operator),
                "--drain",
                str(self.args.drain),
                "--max-drain",
                str(self.args.max_drain),
                "--setup-timeout",
                str(self.args.setup_timeout),
                "--timeout",
                str(self.run_timeout()),
                "--json-out",
                str(out),
            ]
            for proc, port in servers:
                cmd += ["--url", f"ws://127.0.0.1:{port}"]
                cmd += ["--server-pid", str(proc.pid)]
            if target == "product":
                cmd += ["--sessions", str(sessions), "--session-offset", str(offset)]
            self.log(f"{label}: load generator ({n} conversations)")
            log = self.log_dir / f"{label}-loadgen.log"
            with log.open("w") as handle:
                code = self.children.run(
                    cmd,
                    self.run_timeout() + 60,
                    cwd=BASE_DIR,
                    env=cfg.env,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                )
            crashed = [
                i for i, (proc, _) in enumerate(servers) if proc.poll() is not None
            ]
            try:
                result = json.loads(out.read_text())
            except (OSError, ValueError):
                result = {"error": f"loadgen exit {code}: {tail(log, 10)}"}
            if crashed:
                result["server_crashed"] = crashed
            result.update(
                {
                    "cpu_probe_ms": [probe_before, cpu_probe_ms()],
                    "config": cfg.name,
                    "target": target,
                    "n": n,
                    "rate": rate,
                    "surge_mode": surge,
                }
            )
            self.log(f"{label}: {tail(log, 1)}")
            return result
        finally:
            self.stop_servers(servers)
            for proc, path in profilers:
                self.children.stop(proc, grace=30)
                summarize_profile(path)

    def start_profilers(
        self, servers: list[tuple[subprocess.Popen, int]], label: str
    ) -> list[tuple[subprocess.Popen, Path]]:
        """Sample each server with py-spy for ``--profile`` seconds."""
        spy = shutil.which("py-spy") or str(BASE_DIR / ".venv/bin/py-spy")
        started = []
        for i, (proc, _port) in enumerate(servers):
            path = self.log_dir / f"{label}-server{i}.folded"
            delay = max(0.0, self.args.profile_delay)
            prof = self.children.popen(
                [
                    "sh",
                    "-c",
                    f'sleep {delay:g}; exec "$0" "$@"',
                    spy,
                    "record",
                    "--pid",
                    str(proc.pid),
                    "--gil",
                    "--rate",
                    "50",
                    "--format",
                    "raw",
                    "--duration",
                    str(int(self.args.profile)),
                    "--output",
                    str(path),
                ],
                stdout=subprocess.DEVNULL,
                stderr=(self.log_dir / f"{label}-server{i}-py-spy.log").open("w"),
            )
            started.append((prof, path))
        return started

    # ---- the whole matrix -------------------------------------------------

    def execute(self) -> None:
        args = self.args
        self.log_dir.mkdir(parents=True, exist_ok=True)
        plan = self.plan()
        operators = sum(ops for *_, ops in plan) if "product" in args.targets else 0
        for name in args.configs:
            if self.out_of_time():
                self.log("total timeout reached; skipping the rest")
                break
            workdir = self.tmp / name
            workdir.mkdir()
            cfg = Config(name, workdir, secrets.token_hex(4))
            self.configs.append(cfg)
            try:
                sessions = workdir / "sessions.json"
                if "product" in args.targets:
                    sessions = self.prepare(cfg, max(operators, 1))
                offset = 0
                for n, rate, surge, target, ops in plan:
                    if self.out_of_time():
                        break
                    try:
                        result = self.one_run(
                            cfg, target, n, sessions, offset, rate, surge
                        )
                    except RuntimeError as exc:
                        self.log(str(exc))
                        result = {
                            "config": name,
                            "target": target,
                            "n": n,
                            "rate": rate,
                            "surge_mode": surge,
                            "error": str(exc)[:2000],
                        }
                    self.runs.append(result)
                    self.save()
                    offset += ops
            except RuntimeError as exc:
                self.log(str(exc))
                self.runs.append({"config": name, "error": str(exc)[:2000]})
            finally:
                self.children.stop_all()
                cfg.drop_db()

    def plan(self) -> list[tuple[int, float, str, str, int]]:
        """Every run: (N, rate, surge, target, operator accounts it uses).

        Each run has accounts of its own, so a run never meets the
        conversations a previous one could not close. Surges run on the
        product only (the relay has no queue).
        """
        a = self.args
        runs = []
        for n in a.sizes:
            for rate in a.rate:
                for surge in ["none", *a.surges]:
                    for target in a.targets:
                        if surge != "none" and target != "product":
                            continue
                        ops = math.ceil(n / a.per_operator)
                        if surge != "none":
                            ops += math.ceil(a.surge_size / a.per_operator)
                        runs.append(
                            (n, rate, surge, target, ops if target == "product" else 0)
                        )
        return runs

    def cleanup(self) -> None:
        self.children.stop_all()
        for cfg in self.configs:
            cfg.drop_db()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def ratios(self) -> list[dict[str, Any]]:
        out = []
        index = {
            (r.get("config"), r.get("target"), r.get("n"), r.get("rate")): r
            for r in self.runs
            if r.get("surge_mode", "none") == "none"
        }
        for cfg in self.args.configs:
            for n in self.args.sizes:
                for rate in self.args.rate:
                    prod = index.get((cfg, "product", n, rate), {})
                    relay = index.get((cfg, "relay", n, rate), {})
                    p = (prod.get("latency_ms") or {}).get("p99")
                    q = (relay.get("latency_ms") or {}).get("p99")
                    if p is not None and q:
                        out.append(
                            {
                                "config": cfg,
                                "n": n,
                                "rate": rate,
                                "p99_ratio": round(p / q, 2),
                            }
                        )
        return out

    def ceilings(self) -> list[dict[str, Any]]:
        """The most each target delivered per second over the rate sweep."""
        best: dict[tuple, dict[str, Any]] = {}
        for r in self.runs:
            if r.get("surge_mode", "none") != "none" or "delivered_per_s" not in r:
                continue
            key = (r["config"], r["n"], r["target"])
            if r["delivered_per_s"] > best.get(key, {}).get("delivered_per_s", -1):
                best[key] = r
        out = []
        for (cfg, n, target), r in sorted(best.items()):
            item = {
                "config": cfg,
                "n": n,
                "target": target,
                "max_delivered_per_s": r["delivered_per_s"],
                "at_rate": r.get("rate"),
                "offered_per_s": r.get("offered_per_s"),
            }
            relay = best.get((cfg, n, "relay"))
            if target == "product" and relay and relay["delivered_per_s"]:
                item["of_relay"] = round(
                    r["delivered_per_s"] / relay["delivered_per_s"], 2
                )
            out.append(item)
        return out

    def save(self) -> Path:
        self.results_dir.mkdir(parents=True, exist_ok=True)
        path = self.results_dir / f"{self.stamp}.json"
        data = {
            "started": self.stamp,
            # Relative: result files are committed and must name no local path.
            "command": " ".join(["python -m bench.run", *sys.argv[1:]]),
            "args": {k: v for k, v in vars(self.args).items()},
            "cpu_count": os.cpu_count(),
            "runs": self.runs,
            "ratios": self.ratios(),
            "ceilings": self.ceilings(),
        }
        path.write_text(json.dumps(data, indent=2, default=str))
        return path


def summarize_profile(path: Path, top: int = 30) -> Path | None:
    """Write the hottest functions of py-spy's raw stacks as text.

    Self: samples where the function was running; total: samples where it
    was anywhere on the stack (counted once per sample).
    """
    if not path.exists():
        return None
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        try:
            count = int(count_text)
        except ValueError:
            continue
        frames = [f for f in stack.split(";") if f]
        if not frames:
            continue
        samples += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            total[frame] = total.get(frame, 0) + count
    out = path.with_suffix(".top.txt")
    lines = [f"{samples} samples ({path.name})", "", "self %  function"]
    for frame, count in sorted(own.items(), key=lambda x: -x[1])[:top]:
        lines.append(f"{100 * count / max(samples, 1):6.1f}  {frame}")
    lines += ["", "total %  function"]
    for frame, count in sorted(total.items(), key=lambda x: -x[1])[:top]:
        lines.append(f"{100 * count / max(samples, 1):6.1f}  {frame}")
    out.write_text("\n".join(lines) + "\n")
    return out


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}" if value >= 100 else f"{value:.2f}"
    return str(value)


def table(
    runs: list[dict[str, Any]],
    ratios: list[dict[str, Any]],
    ceilings: list[dict[str, Any]] | None = None,
) -> str:
    head = [
        "config",
        "target",
        "N",
        "R",
        "surge",
        "p50",
        "p95",
        "p99",
        "max",
        "msgs/s",
        "lost",
        "dup",
        "KiB/socket",
        "ready",
        "setup_s",
        "other_cpu",
        "cpu_ms/msg",
        "surge_p99",
        "start_q_p50",
        "errors",
    ]
    rows = [head]
    for r in runs:
        lat = r.get("latency_ms") or {}
        if "error" in r and not lat:
            rows.append(
                [r.get("config", "?"), r.get("target", "?"), fmt(r.get("n"))]
                + [fmt(r.get("rate")), r.get("surge_mode", "none")]
                + ["-"] * 14
                + ["FAILED: " + str(r["error"]).splitlines()[0][:60]]
            )
            continue
        errors = dict(r.get("errors") or {})
        for code, count in (r.get("setup_errors") or {}).items():
            errors[f"setup:{code}"] = count
        for code, count in ((r.get("surge") or {}).get("errors") or {}).items():
            errors[f"surge:{code}"] = count
        for key, name in (
            ("unacked", "unacked"),
            ("echoes", "echo"),
            ("misrouted", "misrouted"),
            ("seq_duplicates", "seq_dup"),
            ("lost_receiver_closed", "lost_receiver_closed"),
        ):
            if r.get(key):
                errors[name] = r[key]
        if r.get("server_crashed"):
            errors["server_crashed"] = r["server_crashed"]
        rows.append(
            [
                r["config"],
                r["target"],
                str(r["n"]),
                fmt(r.get("rate")),
                r.get("surge_mode", "none"),
                fmt(lat.get("p50")),
                fmt(lat.get("p95")),
                fmt(lat.get("p99")),
                fmt(lat.get("max")),
                fmt(r.get("delivered_per_s")),
                fmt(r.get("lost")),
                fmt(r.get("duplicates")),
                fmt(r.get("kib_per_socket")),
                f"{r.get('conversations_ready')}/{r['n']}",
                fmt(r.get("setup_s")),
                fmt(r.get("other_cpu_pct")),
                fmt(r.get("server_cpu_ms_per_msg")),
                fmt(
                    ((r.get("surge") or {}).get("others_latency_ms_during") or {}).get(
                        "p99"
                    )
                ),
                fmt((r.get("start_to_queue_ms") or {}).get("p50")),
                ",".join(f"{k}={v}" for k, v in sorted(errors.items())) or "-",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
    lines = []
    for row in rows:
        cells = [row[i].rjust(widths[i]) for i in range(len(head) - 1)]
        lines.append("  ".join(cells) + "  " + row[-1])
    lines.insert(1, "-" * len(lines[0]))
    lines.append("")
    lines.append("latency in ms (one-way, send to delivery); product/relay p99 ratio:")
    for item in ratios:
        lines.append(
            f"  {item['config']:>5} N={item['n']:<5} R={item.get('rate', '-')!s:<5}"
            f" {item['p99_ratio']}x"
        )
    if ceilings:
        lines.append("")
        lines.append("ceiling (most msgs/s delivered over the rate sweep):")
        for c in ceilings:
            share = f"  = {c['of_relay']:.0%} of the relay" if "of_relay" in c else ""
            lines.append(
                f"  {c['config']:>5} N={c['n']:<5} {c['target']:>7}"
                f" {c['max_delivered_per_s']:>8} msgs/s at R={c['at_rate']}"
                f" (offered {c['offered_per_s']}){share}"
            )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    def csv(kind: type) -> Any:
        return lambda text: [kind(x) for x in text.split(",") if x]

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--configs", type=csv(str), default=["demo", "prod"])
    p.add_argument("--sizes", type=csv(int), default=[100, 500, 1000])
    p.add_argument("--targets", type=csv(str), default=["product", "relay"])
    p.add_argument("--messages", type=int, default=20)
    p.add_argument(
        "--rate",
        type=csv(float),
        default=[1.0],
        help="msgs/s each way per conversation; a list (1,2,4,8) sweeps "
        "the rates to find each target's ceiling",
    )
    p.add_argument(
        "--surges",
        type=csv(str),
        default=[],
        help="also run these surge scenarios (arrive,requeue) on the product",
    )
    p.add_argument("--surge-size", type=int, default=100)
    p.add_argument(
        "--profile",
        type=float,
        default=0.0,
        help="sample each server with py-spy for this many s (raw stacks "
        "and a text summary in the log directory)",
    )
    p.add_argument(
        "--profile-delay",
        type=float,
        default=0.0,
        help="start sampling this many s after the servers (e.g. past set-up)",
    )
    p.add_argument("--per-operator", type=int, default=5)
    p.add_argument("--drain", type=float, default=5.0, help="idle end of drain, s")
    p.add_argument("--max-drain", type=float, default=30.0)
    p.add_argument(
        "--setup-timeout",
        type=float,
        default=150.0,
        help="per run: stop opening conversations after this long, s",
    )
    p.add_argument("--base-port", type=int, default=18600)
    p.add_argument(
        "--run-timeout", type=float, default=0.0, help="per run, s (0: derived)"
    )
    p.add_argument("--total-timeout", type=float, default=3000.0, help="whole, s")
    args = p.parse_args(argv)
    for name in args.configs:
        if name not in ("demo", "prod"):
            p.error(f"unknown config {name}")
    for name in args.targets:
        if name not in APPS:
            p.error(f"unknown target {name}")
    for name in args.surges:
        if name not in ("arrive", "requeue"):
            p.error(f"unknown surge {name}")
    if not args.rate or min(args.rate) <= 0:
        p.error("--rate must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_fd_limit()

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # Explicitly: a shell's background job starts with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    bench = Bench(args)
    code = 0
    try:
        bench.execute()
    except KeyboardInterrupt:
        bench.log("interrupted; cleaning up")
        code = 130
    finally:
        # Ignore further Ctrl-C while the servers and databases go away.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        bench.cleanup()
    path = bench.save()
    print(table(bench.runs, bench.ratios(), bench.ceilings()))
    print(f"\nresults: {path.relative_to(BASE_DIR)}")
    print(f"logs:    {bench.log_dir.relative_to(BASE_DIR)}/")
    return code


if __name__ == "__main__":
    sys.exit(main())
