"""``python -m bench [NAME ...]``: run every benchmark in turn, or only the named ones."""

from __future__ import annotations

import importlib
import sys
import time
import traceback

from bench.common import console

BENCHMARKS = (
    "provisioning",
    "outbox",
    "audit",
    "request_overhead",
    "identity",
    "entitlements",
    "access",
    "finance_matching",
    "finance_reconciliation",
    "finance",
)


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        console.print(
            "usage: python -m bench [NAME ...]\n"
            f"benchmarks: {', '.join(BENCHMARKS)}\n"
            "environment: ATRIUM_BENCH_POSTGRES_URL, ATRIUM_BENCH_RABBITMQ_URL, ATRIUM_BENCH_SCALE, "
            "ATRIUM_BENCH_AUDIT_EVENTS (see bench/README.md)"
        )
        return 0
    unknown = [a for a in argv if a not in BENCHMARKS]
    if unknown:
        console.print(f"[red]unknown benchmark(s)[/red] {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    failed: list[str] = []
    for name in argv or BENCHMARKS:
        console.rule(f"bench.{name}")
        started = time.perf_counter()
        try:
            importlib.import_module(f"bench.{name}").run()
        except Exception:
            traceback.print_exc()
            failed.append(name)
        console.print(f"[dim]bench.{name} took {time.perf_counter() - started:,.1f} s[/dim]\n")
    if failed:
        console.print(f"[red]failed:[/red] {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
