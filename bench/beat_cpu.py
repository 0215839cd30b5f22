"""Where a saturated heartbeat's CPU goes: gunicorn's workers, PostgreSQL's backends, the load
client; beside the hello world on the same flags (a profile for docs/performance.md, not a figure
of make bench).

Run from the repo root: python bench/beat_cpu.py [--seconds S] [--reset-postgres URL]
                                                 [--route heartbeat|hello] [--concurrency C]

It builds the same database and starts the same gunicorn (the `make run` flags) as
bench/heartbeat.py, signs its 64 viewers in, then sends back-to-back requests from C threads (16) in
THIS process for S seconds (after a 3 s warm-up), and prints, per request: the CPU seconds of
the workers (each worker's own line: gthread keeps a connection on the worker that accepted it,
so an uneven share shows), of every process of the program postgres, and of this
process (the client); the idle and steal shares of the machine (/proc/stat); on PostgreSQL the
commits per request (pg_stat_database). Every postgres process is counted, whatever database it
serves: run it on an otherwise quiet machine. The --reset-postgres database's public schema is
DROPPED.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import heartbeat as hb  # noqa: E402  (the sibling script: the same setup)
import procstat  # noqa: E402

CONCURRENCY = 16
VIEWERS = 64


def postgres_pids() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                # The program's name, not its arguments: this process's own command line
                # names postgres too (--reset-postgres).
                if Path(f"/proc/{entry}/comm").read_text().strip() == "postgres":
                    found.append(int(entry))
            except OSError:
                continue
    return found


def postgres_split(pids: list[int]) -> dict[str, list[float]]:
    """CPU seconds [user, system] of the postgres processes by kind: the client backends
    together, and each background process (walwriter, checkpointer, autovacuum ...) by title."""
    tick = os.sysconf("SC_CLK_TCK")
    split: dict[str, list[float]] = {}
    for pid in pids:
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone (an autovacuum worker that ended)
        kind = title.split(":")[-1].strip()
        if "(" in kind or "@" in kind or " idle" in title:
            kind = "backends"
        else:  # a background process by its title; the postmaster's title names no kind
            kind = (kind.split() or ["postmaster"])[0]
        user_sys = split.setdefault(kind, [0.0, 0.0])
        user_sys[0] += int(fields[11]) / tick
        user_sys[1] += int(fields[12]) / tick
    return split


def machine_ticks() -> list[int]:
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def commits(url: str | None) -> int:
    if not url:
        return 0
    import psycopg2
    from playhouse.db_url import parse

    params = parse(url.replace("+pool", ""))
    for key in ("max_connections", "timeout", "stale_timeout"):
        params.pop(key, None)
    conn = psycopg2.connect(dbname=params.pop("database"), **params)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_stat_force_next_flush()")
            cur.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12)
    parser.add_argument("--reset-postgres", metavar="URL")
    parser.add_argument("--route", choices=("heartbeat", "hello"), default="heartbeat")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY,
                        help="client threads, each with its keep-alive connection")
    args = parser.parse_args()
    if not 1 <= args.concurrency <= VIEWERS:
        parser.error(f"--concurrency must be 1 to {VIEWERS} (each thread beats for its own viewers)")
    with tempfile.TemporaryDirectory(prefix="xt-beat-cpu-") as tmp_name:
        tmp = Path(tmp_name)
        url, lesson_id, ids = hb.build_database(tmp, VIEWERS, args.reset_postgres)
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench", "DEMO_MEDIA": "0",
               "SIGNIN_RATE_LIMIT": "100000 per minute",
               "PYTHONPATH": os.pathsep.join([str(hb.ROOT / "platform"), str(hb.ROOT)])}
        if args.route == "hello":
            (tmp / "hello_app.py").write_text(hb.HELLO)
            spec, chdir = "hello_app:app", tmp
        else:
            spec, chdir = "wsgi:app", hb.ROOT
        port = hb.free_port()
        server = hb.start_gunicorn(tmp, spec, port, env, chdir)
        try:
            if args.route == "hello":  # as bench/heartbeat.py: one connection per thread
                clients = [[hb.Hello(port)] for _ in range(args.concurrency)]
            else:
                viewers = [hb.Viewer(port, id_number, lesson_id) for id_number in ids]
                clients = [viewers[i::args.concurrency] for i in range(args.concurrency)]
            hb.saturate(clients, 3)
            workers = procstat.children(server.pid)
            pg = postgres_pids()
            pg_before = postgres_split(pg)
            before = ([procstat.cpu_seconds([w]) for w in workers], procstat.cpu_seconds(pg),
                      procstat.cpu_seconds([os.getpid()]), machine_ticks(), commits(url if
                      args.reset_postgres else None))
            result = hb.saturate(clients, args.seconds)
            after = ([procstat.cpu_seconds([w]) for w in workers], procstat.cpu_seconds(pg),
                     procstat.cpu_seconds([os.getpid()]), machine_ticks(), commits(url if
                     args.reset_postgres else None))
            pg_after = postgres_split(postgres_pids())
        finally:
            hb.stop(server)
    n, seconds = result["requests"], result["seconds"]

    def per_request(cpu: float) -> str:
        return f"{cpu / n * 1e6:,.0f} µs a request ({cpu / seconds:.2f} cores)"

    engine = "" if args.route == "hello" else (
        " · PostgreSQL" if args.reset_postgres else " · SQLite")
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} · {args.route}{engine} · {args.concurrency} threads x "
          f"{args.seconds:g} s · {result['rps']:,.0f} req/s")
    for pid, start, end in zip(workers, before[0], after[0], strict=True):
        print(f"gunicorn worker {pid}: {per_request(end - start)}")
    print(f"gunicorn, all workers: {per_request(sum(after[0]) - sum(before[0]))}")
    if args.reset_postgres:
        print(f"postgres: {per_request(after[1] - before[1])}; "
              f"commits a request {(after[4] - before[4]) / n:.2f}")
        for kind, (user, system) in sorted(pg_after.items()):
            user0, system0 = pg_before.get(kind, (0.0, 0.0))
            print(f"  postgres {kind}: user {(user - user0) / n * 1e6:,.0f} µs, "
                  f"system {(system - system0) / n * 1e6:,.0f} µs a request")
    print(f"load client (this process): {per_request(after[2] - before[2])}")
    ticks = [b - a for a, b in zip(before[3], after[3], strict=True)]
    print(f"machine: idle {100 * ticks[3] / sum(ticks):.0f} %, steal {100 * ticks[7] / sum(ticks):.0f} %")


if __name__ == "__main__":
    main()
