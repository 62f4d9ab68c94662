"""What every benchmark shares: a throw-away PostgreSQL database, settings built the way the
tests build them, timing statistics, machine facts, the result table and the JSON file."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.metadata
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from rich.console import Console
from rich.table import Table

from atrium.core.db import execute_autocommit
from atrium.core.logging import configure as configure_logging
from atrium.core.settings import Settings

POSTGRES_URL = os.environ.get("ATRIUM_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
RABBITMQ_URL = os.environ.get("ATRIUM_BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
console = Console(width=None if sys.stdout.isatty() else 140)


def scale() -> float:
    """ATRIUM_BENCH_SCALE multiplies every default count (0.1 for a quick look)."""
    value = float(os.environ.get("ATRIUM_BENCH_SCALE", "1"))
    if value <= 0:
        raise ValueError("ATRIUM_BENCH_SCALE must be positive")
    return value


def scaled(default: int, *, env: str | None = None, minimum: int = 1) -> int:
    """A count: an explicit environment variable wins, else ``default`` × ATRIUM_BENCH_SCALE."""
    if env and os.environ.get(env):
        return max(minimum, int(os.environ[env]))
    return max(minimum, round(default * scale()))


# -- statistics ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """Latency summary in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "min_ms": round(min(ms), 3),
        "max_ms": round(max(ms), 3),
    }


def ratio(value: float, baseline: float) -> float:
    return round(value / baseline, 2) if baseline else math.nan


class Stopwatch:
    """``with Stopwatch() as sw: ...``, then ``sw.seconds``."""

    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started


# -- machine facts ------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _git() -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return {"commit": commit or None, "dirty": bool(dirty)}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


async def postgres_facts(url: str = POSTGRES_URL) -> dict[str, Any] | None:
    """Server version and the settings that move these numbers most."""
    names = ("server_version", "autovacuum", "fsync", "synchronous_commit", "shared_buffers", "max_connections")
    try:
        [rows] = await execute_autocommit(
            POSTGRES_URL,
            "SELECT name, setting FROM pg_settings WHERE name IN (" + ", ".join(f"'{n}'" for n in names) + ")",
            url=url,
        )
    except Exception:
        return None
    return {str(name): str(setting) for name, setting in rows}


def machine_facts(**extra: Any) -> dict[str, Any]:
    return {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "os": platform.platform(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "python": platform.python_version(),
        "packages": {p: _version(p) for p in ("sqlalchemy", "asyncpg", "aiosqlite", "fastapi", "aio-pika", "httpx")},
        "git": _git(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "scale": scale(),
        **extra,
    }


# -- PostgreSQL ---------------------------------------------------------------------------------


def server_url(database: str, url: str = POSTGRES_URL) -> str:
    return urlparse(url)._replace(path=f"/{database}").geturl()


@asynccontextmanager
async def bench_database(label: str) -> AsyncIterator[str]:
    """A fresh ``atrium_bench_<label>_<hex>`` database; dropped afterwards together with every
    tenant database whose name starts with it (database-mode tenants are named after it)."""
    name = f"atrium_bench_{label}_{uuid.uuid4().hex[:6]}"
    assert len(name) <= 30, "tenant databases take the first 30 characters of the platform database name"
    await execute_autocommit(POSTGRES_URL, f'CREATE DATABASE "{name}"')
    try:
        yield server_url(name)
    finally:
        [rows] = await execute_autocommit(POSTGRES_URL, f"SELECT datname FROM pg_database WHERE datname LIKE '{name}%'")
        await execute_autocommit(POSTGRES_URL, *[f'DROP DATABASE IF EXISTS "{r[0]}" WITH (FORCE)' for r in rows])


@contextmanager
def temp_dir(label: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"atrium-bench-{label}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    """As tests/conftest.py builds them (without its test-only zero tenant-cache TTL)."""
    values: dict[str, Any] = {
        "env": "test",
        "secret_key": "atrium-benchmark-secret-key-not-for-production",
        "data_dir": data_dir,
        "database_url": database_url,
        "broker_url": "memory://",
        "log_json": False,
        "log_level": "WARNING",
    }
    values.update(overrides)
    configure_logging(values["log_level"], values["log_json"])
    return Settings(**values)


# -- reporting ----------------------------------------------------------------------------------


@dataclass
class Report:
    """Rows for the table and the numbers for the JSON file."""

    name: str
    title: str
    rows: list[tuple[str, ...]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    columns: tuple[str, ...] = ("measure", "value", "baseline", "ratio", "goal", "met")

    def row(self, *cells: Any) -> None:
        self.rows.append(tuple("" if c is None else str(c) for c in cells))

    def note(self, text_: str) -> None:
        self.notes.append(text_)

    def print(self) -> None:
        table = Table(title=self.title, title_justify="left", show_lines=False)
        width = len(self.columns)
        rows = [r + ("",) * (width - len(r)) for r in self.rows]
        used = [i for i in range(width) if i == 0 or any(r[i] for r in rows)]
        for i in used:
            table.add_column(self.columns[i], justify="left" if i == 0 else "right")
        for r in rows:
            table.add_row(*(r[i] for i in used))
        console.print(table)
        for n in self.notes:
            console.print(f"  • {n}")

    def write(self, machine: dict[str, Any]) -> Path:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"{self.name}.json"
        payload = {"benchmark": self.name, "title": self.title, "machine": machine, **self.data, "notes": self.notes}
        path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        console.print(f"[green]wrote[/green] {path.relative_to(REPO)}")
        return path


def fmt_ms(value: float) -> str:
    return f"{value:,.2f} ms" if value < 100 else f"{value:,.0f} ms"


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}/s"


def met(value: float, goal: float) -> str:
    return "yes" if value < goal else "NO"


def progress(message: str) -> None:
    console.print(f"[cyan]…[/cyan] {message}")


def run_benchmark(bench: Callable[[], Awaitable[Report]], **facts: Any) -> dict[str, Any]:
    """Run one benchmark with the PostgreSQL facts, print its table and write its results file."""

    async def main() -> tuple[Report, dict[str, Any] | None]:
        return await bench(), await postgres_facts()

    load_before = [round(x, 2) for x in os.getloadavg()]
    report, pg = asyncio.run(main())
    report.print()
    report.write(machine_facts(postgres=pg, load_average_before=load_before, **facts))
    return report.data
