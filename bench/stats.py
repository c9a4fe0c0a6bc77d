"""How fast the statistics page renders over a year of national traffic.

    .venv/bin/python -m bench.stats                      # SQLite, 55,000 conversations
    .venv/bin/python -m bench.stats --postgres           # also a throwaway PostgreSQL
    DATABASE_URL=postgres://… .venv/bin/python -m bench.stats   # also that server

Each backend runs in its own process on a throwaway database (a SQLite
file in a temporary directory; on PostgreSQL a database
``ecoute_stats_bench_<random>`` dropped at the end, or a throwaway cluster
with ``--postgres``). The process migrates, generates a year of traffic
with its messages (``generate_traffic``, also used by the browser test),
then renders the page as an administrator through Django's test client:
the year (the heaviest view, with the previous year for the comparison),
a month, and one CSV. It prints the best and median wall time of
``--repeat`` runs, and the median CPU time of this process (Django, and
SQLite, which runs in it; not the PostgreSQL server's), which a busy
machine inflates less.
"""

import argparse
import base64
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from statistics import median
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
CATEGORIES = [
    "violences conjugales",
    "violences sexuelles",
    "harcèlement",
    "cyberviolence",
    "inceste",
    "violences au travail",
]
# Shares of closed, handled conversations, after the public reports'
# proportions (reports, orientations, information requests, other).
OUTCOMES = [("report", 0.55), ("orientation", 0.14), ("information", 0.08)]
HOUR_WEIGHTS = [
    2, 1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 7, 7, 8, 8, 8, 8, 8, 9, 10, 10, 8, 5,
]  # fmt: skip
WEEKDAY_WEIGHTS = [10, 10, 10, 10, 10, 8, 8]
INSERT_MESSAGE = (
    "INSERT INTO chat_message (conversation_id, seq, sender, author_name, "
    "ciphertext, created_at) VALUES (%s, %s, %s, %s, %s, %s)"
)
RESOURCE_KINDS = ["victim_support", "cidff", "association", "police", "national"]


def generate_traffic(
    conversations: int,
    *,
    year: int,
    messages: int = 12,
    seed: int = 15,
    services: list[Any] | None = None,
) -> dict[str, Any]:
    """Write ``conversations`` over ``year`` (and their messages) in bulk.

    The shapes are plausible, not real: more in the evening and on
    weekdays, about 8 % abandoned while waiting, waits of a few minutes,
    some transfers between the police and gendarmerie queues, a
    psychologist in 5 %, a card in 15 %, feedback from 10 %. Rows are
    written as the services would leave them, facts fields included.
    """
    from django.contrib.auth.models import User
    from django.db import connection, transaction

    from chat.models import Commune, Conversation, Message, Service
    from console.models import Invitation, Participant, StaffProfile
    from directory.models import Orientation
    from stats.models import Feedback, ServicePassage
    from stats.periods import PARIS

    rng = random.Random(seed)
    uuid_field = Message._meta.get_field("conversation").target_field
    time_field = Message._meta.get_field("created_at")

    def uuid_value(value: uuid.UUID) -> Any:
        return uuid_field.get_db_prep_value(value, connection)

    def time_value(value: datetime) -> Any:
        return time_field.get_db_prep_value(value, connection)

    with transaction.atomic():
        if services is None:
            services = [
                Service.objects.get_or_create(
                    slug=slug, defaults={"name": name, "routing_group": "stats-bench"}
                )[0]
                for slug, name in (
                    ("stats-bench-pn", "Plateforme nationale (police)"),
                    ("stats-bench-gn", "Plateforme nationale (gendarmerie)"),
                )
            ]
        communes = []
        for number in range(40):
            department = f"{number + 1:02d}"
            communes.append(
                Commune.objects.get_or_create(
                    code_insee=f"{department}999",
                    kind=Commune.Kind.CURRENT,
                    defaults={
                        "name": f"Commune {department}",
                        "search_name": f"commune {department}",
                        "department": department,
                    },
                )[0]
            )
        operators = []
        for number in range(60):
            user = User.objects.create(
                username=f"stats-bench-{seed}-{number}", password="!"
            )
            profile = StaffProfile.objects.create(
                user=user, pseudonym=f"Opérateur·rice {number}", roles=["operator"]
            )
            profile.services.set(services)
            operators.append(user)
        psychologist = User.objects.create(
            username=f"stats-bench-{seed}-psy", password="!"
        )

    start = datetime(year, 1, 1, tzinfo=PARIS)
    days = (datetime(year + 1, 1, 1, tzinfo=PARIS) - start).days
    day_weights = list(
        accumulate(
            WEEKDAY_WEIGHTS[(start + timedelta(days=d)).weekday()] for d in range(days)
        )
    )
    hour_weights = list(accumulate(HOUR_WEIGHTS))
    counts = {"conversations": 0, "messages": 0}
    blob = secrets.token_bytes(80)
    batch = 5000
    for first in range(0, conversations, batch):
        rows, messages_rows, passages, joins, invitations = [], [], [], [], []
        cards, feedback = [], []
        for _n in range(min(batch, conversations - first)):
            day = rng.choices(range(days), cum_weights=day_weights)[0]
            hour = rng.choices(range(24), cum_weights=hour_weights)[0]
            local = (start + timedelta(days=day)).replace(
                hour=hour, minute=rng.randrange(60), second=rng.randrange(60)
            )
            created = local.astimezone(UTC)
            service = services[0] if rng.random() < 0.6 else services[-1]
            conversation = Conversation(
                id=uuid.uuid4(),
                service=service,
                status=Conversation.Status.CLOSED,
                visitor_role=rng.choices(
                    ["victim", "witness", "relative", "professional"], [70, 12, 13, 5]
                )[0],
                commune=rng.choice(communes),
                token_hash="purged:" + secrets.token_hex(24),
                created_at=created,
                queue_key=created,
                categories=rng.sample(CATEGORIES, rng.choice([0, 1, 1, 2])),
            )
            rows.append(conversation)
            passages.append(
                ServicePassage(
                    conversation_id=conversation.id,
                    service=service,
                    kind="start",
                    at=created,
                    started_at=created,
                )
            )
            if rng.random() < 0.08:
                conversation.closed_at = created + timedelta(
                    seconds=rng.expovariate(1 / 300)
                )
                conversation.outcome = Conversation.Outcome.VISITOR_LEFT
                continue
            claimed = created + timedelta(seconds=5 + rng.expovariate(1 / 150))
            reply = claimed + timedelta(seconds=10 + rng.expovariate(1 / 40))
            closed = reply + timedelta(seconds=120 + rng.expovariate(1 / 1200))
            conversation.first_claimed_at = conversation.claimed_at = claimed
            conversation.first_staff_reply_at = reply
            conversation.closed_at = closed
            conversation.operator = rng.choice(operators)
            draw, outcome = rng.random(), "other"
            for name, share in OUTCOMES:
                if draw < share:
                    outcome = name
                    break
                draw -= share
            conversation.outcome = outcome
            total = max(2, int(rng.gauss(messages, messages / 3)))
            conversation.visitor_messages = total // 2
            conversation.staff_messages = total - total // 2
            conversation.last_seq = total
            step = (closed - reply) / total
            conversation_key = uuid_value(conversation.id)
            for seq in range(1, total + 1):
                messages_rows.append(
                    (
                        conversation_key,
                        seq,
                        "operator" if seq % 2 else "visitor",
                        "",
                        blob,
                        time_value(reply + step * (seq - 1)),
                    )
                )
            if len(services) > 1 and rng.random() < 0.03:
                other = services[-1] if service == services[0] else services[0]
                passages.append(
                    ServicePassage(
                        conversation_id=conversation.id,
                        service=other,
                        from_service=service,
                        kind="transfer",
                        at=reply,
                        started_at=created,
                    )
                )
                conversation.service = other
            if rng.random() < 0.05:
                invitation = Invitation(
                    conversation_id=conversation.id,
                    role="psychologist",
                    service=service,
                    status="accepted",
                    accepted_by=psychologist,
                    created_at=reply,
                )
                invitations.append(invitation)
                joins.append(
                    Participant(
                        conversation_id=conversation.id,
                        user=psychologist,
                        role="psychologist",
                        invitation=invitation,
                        joined_at=reply + timedelta(minutes=2),
                        left_at=closed,
                    )
                )
            if rng.random() < 0.15:
                kind = rng.choice(RESOURCE_KINDS)
                cards.append(
                    Orientation(
                        conversation_id=conversation.id,
                        service=service,
                        resource_kind=kind,
                        resource_name=kind,
                        shared_at=closed - timedelta(minutes=1),
                    )
                )
            if rng.random() < 0.10:
                feedback.append(
                    Feedback(
                        service=conversation.service,
                        day=closed.astimezone(PARIS).date(),
                        answer=rng.choices(["yes", "somewhat", "no"], [70, 20, 10])[0],
                    )
                )
        with transaction.atomic(), _keep_given_times():
            Conversation.objects.bulk_create(rows)
            with connection.cursor() as cursor:
                # Raw: the ORM would spend minutes building 600,000 objects.
                cursor.executemany(INSERT_MESSAGE, messages_rows)
            ServicePassage.objects.bulk_create(passages)
            Invitation.objects.bulk_create(invitations)
            Participant.objects.bulk_create(joins)
            Orientation.objects.bulk_create(cards)
            Feedback.objects.bulk_create(feedback)
        counts["conversations"] += len(rows)
        counts["messages"] += len(messages_rows)
    return counts


@contextmanager
def _keep_given_times() -> Iterator[None]:
    """Let bulk_create keep the generated times ``auto_now_add`` would replace."""
    from chat.models import Conversation
    from console.models import Invitation, Participant
    from directory.models import Orientation

    fields = [
        Conversation._meta.get_field("created_at"),
        Orientation._meta.get_field("shared_at"),
        Invitation._meta.get_field("created_at"),
        Participant._meta.get_field("joined_at"),
    ]
    for item in fields:
        item.auto_now_add = False
    try:
        yield
    finally:
        for item in fields:
            item.auto_now_add = True


def _time(call: Any, repeat: int) -> dict[str, float]:
    """Wall time, and this process's CPU time (Django, and SQLite in process)."""
    runs, cpu = [], []
    for _n in range(repeat):
        began, began_cpu = time.perf_counter(), time.process_time()
        call()
        runs.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
    return {
        "best_ms": round(min(runs), 1),
        "median_ms": round(median(runs), 1),
        "cpu_median_ms": round(median(cpu), 1),
    }


def child(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from console.models import StaffProfile
    from console.services import do_create_login_session, do_create_staff

    call_command("migrate", interactive=False, verbosity=0)
    began = time.perf_counter()
    counts = generate_traffic(
        args.conversations, year=args.year, messages=args.messages
    )
    generated_s = time.perf_counter() - began
    from django.test.utils import override_settings

    with override_settings(
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]
    ):
        admin = do_create_staff(
            username="stats-bench-admin",
            password=secrets.token_urlsafe(16),
            pseudonym="Admin",
            roles=[StaffProfile.Role.ADMINISTRATOR],
            services=[],
        )
    client = Client()
    client.cookies["sessionid"] = do_create_login_session(admin)

    def get(url: str) -> None:
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}")

    year = f"/console/statistics/?period=year&date={args.year}-06-01"
    month = f"/console/statistics/?period=month&date={args.year}-11-01"
    csv = f"/console/statistics/heatmap.csv?period=year&date={args.year}-06-01"
    get(year)  # warm the caches once, as a running server would be
    from django.db import connection

    result = {
        "backend": connection.vendor,
        **counts,
        "generate_s": round(generated_s, 1),
        "year_page": _time(lambda: get(year), args.repeat),
        "month_page": _time(lambda: get(month), args.repeat),
        "year_csv": _time(lambda: get(csv), args.repeat),
    }
    print(json.dumps(result))


def _child_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url,
        SECRET_KEY=env.get("SECRET_KEY") or secrets.token_urlsafe(40),
        CHANNEL_LAYER_KEYS=env.get("CHANNEL_LAYER_KEYS") or secrets.token_urlsafe(24),
        MESSAGE_KEYS="b1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        # Creating the staff accounts writes audit entries (escalation app).
        AUDIT_CHAIN_SEED=base64.b64encode(secrets.token_bytes(32)).decode(),
        AUDIT_SIGNING_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
        AUDIT_CHECKPOINT_DIR=tempfile.mkdtemp(prefix="bench-stats-audit-"),
        SECRETS_FILE="/nonexistent",
        ALLOWED_HOSTS="testserver",
        CONN_MAX_AGE="0",
    )
    return env


def run_child(database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.stats", "--child"]
    argv += ["--conversations", str(args.conversations), "--year", str(args.year)]
    argv += ["--messages", str(args.messages), "--repeat", str(args.repeat)]
    done = subprocess.run(
        argv,
        cwd=BASE_DIR,
        env=_child_env(database_url),
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"bench child failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def on_postgres(admin_url: str, args: argparse.Namespace) -> dict[str, Any]:
    import psycopg

    from tests.integration.processes import libpq_conninfo, with_database

    name = f"ecoute_stats_bench_{secrets.token_hex(4)}"
    with psycopg.connect(libpq_conninfo(admin_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        return run_child(with_database(admin_url, name), args)
    finally:
        with psycopg.connect(libpq_conninfo(admin_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=55_000)
    parser.add_argument("--messages", type=int, default=12)
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.conversations <= 500_000 or not 1 <= args.repeat <= 50:
        parser.error("--conversations 1–500000, --repeat 1–50")
    if args.child:
        child(args)
        return 0
    results = []
    with tempfile.TemporaryDirectory(prefix="ecoute-stats-bench-") as root:
        results.append(run_child(f"sqlite:///{root}/bench.sqlite3", args))
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        results.append(on_postgres(os.environ["DATABASE_URL"], args))
    elif args.postgres:
        from tests.integration.processes import ThrowawayPostgres, find_postgres_bin

        bin_dir = find_postgres_bin()
        if bin_dir is None:
            raise SystemExit("--postgres: no initdb/pg_ctl found")
        server = ThrowawayPostgres(bin_dir)
        server.start()
        try:
            results.append(on_postgres(server.admin_url, args))
        finally:
            server.stop()
    for result in results:
        print(json.dumps(result))
    load = os.getloadavg()[0]
    print(f"load average at the end: {load:.2f} (quiet machine: under 1)")
    print(
        "| backend | conversations | messages | year page | month page | year CSV |\n"
        "|---|---|---|---|---|---|"
    )
    for r in results:
        cells = [
            f"{r[key]['median_ms']:,.0f} ms (CPU {r[key]['cpu_median_ms']:,.0f} ms)"
            for key in ("year_page", "month_page", "year_csv")
        ]
        print(
            f"| {r['backend']} | {r['conversations']:,} | {r['messages']:,} | "
            + " | ".join(cells)
            + " |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
