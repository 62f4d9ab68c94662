"""The ledger through the API: balanced entries post with gap-free numbers into the company's hash
chain; drafts, reversals, multi-currency lines with rounding, lock dates, attachments; bad input
is refused naming the line with nothing written; auditors read; other tenants get 404."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from atrium.apps.finance.integrity import verify
from atrium.apps.finance.jobs import acting
from atrium.apps.finance.models import Balance, Entry, Line
from atrium.core.events.models import OutboxEvent
from atrium.platform.access import catalog
from tests.apps.finance.conftest import csrf
from tests.platform.access.conftest import World, problem

F = "/api/v1/tenants/acme/finance"


async def _books(world: World, template: str = "ifrs") -> tuple[httpx.AsyncClient, dict[str, Any], dict[str, str]]:
    tenant_id = await world.tenant("acme")
    await world.person("cfo@acme.example", tenant_id, "Finance Admin")
    cfo = await world.login("cfo@acme.example")
    made = await cfo.post(
        f"{F}/companies", json={"name": "Acme Ltd", "base_currency": "EUR", "chart_template": template}
    )
    assert made.status_code == 201, made.text
    company = made.json()
    accounts = (await cfo.get(f"{F}/accounts", params={"company_id": company["id"]})).json()
    by_kind: dict[str, str] = {}
    for account in accounts:
        by_kind.setdefault(account["kind"], account["code"])
    return cfo, company, by_kind


def _entry(company: dict[str, Any], day: str, *lines: tuple[str, str, str], **extra: Any) -> dict[str, Any]:
    return {
        "company_id": company["id"],
        "date": day,
        "lines": [{"account": a, "debit": d, "credit": c} for a, d, c in lines],
        **extra,
    }


async def _rows(world: World, model: Any) -> int:
    async with acting(world.rt, "acme") as access:
        return int(await access.session.scalar(select(func.count()).select_from(model)) or 0)


async def test_entries_post_with_gap_free_numbers_into_a_verifiable_chain(world: World) -> None:
    cfo, company, k = await _books(world)
    journals = {j["code"]: j for j in (await cfo.get(f"{F}/journals", params={"company_id": company["id"]})).json()}
    assert set(journals) >= {"GEN", "SAL", "PUR", "BNK", "FX", "CLS"}
    assert journals["BNK"]["default_account_id"] is not None

    first = await cfo.post(
        f"{F}/journal-entries",
        json=_entry(company, "2026-03-01", (k["bank"], "1000.00", "0"), (k["equity"], "0", "1000.00"), memo="Capital"),
    )
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["state"], body["number"], body["total"]) == ("posted", "GEN/2026/00001", "1000.00")
    assert len(body["hash"]) == 64 and [line["line_no"] for line in body["lines"]] == [1, 2]
    second = (
        await cfo.post(
            f"{F}/journal-entries",
            json=_entry(company, "2026-03-02", (k["expense"], "40.00", "0"), (k["bank"], "0", "40.00")),
        )
    ).json()
    assert second["number"] == "GEN/2026/00002"
    other_journal = (
        await cfo.post(
            f"{F}/journal-entries",
            json=_entry(company, "2026-03-02", (k["expense"], "5", "0"), (k["bank"], "0", "5"), journal="BNK"),
        )
    ).json()
    assert other_journal["number"] == "BNK/2026/00001"
    next_year = (
        await cfo.post(
            f"{F}/journal-entries",
            json=_entry(company, "2027-01-05", (k["expense"], "1", "0"), (k["bank"], "0", "1")),
        )
    ).json()
    assert next_year["number"] == "GEN/2027/00001"

    listed = (
        await cfo.get(f"{F}/journal-entries", params={"company_id": company["id"], "journal_id": journals["GEN"]["id"]})
    ).json()
    assert [e["number"] for e in listed] == ["GEN/2027/00001", "GEN/2026/00002", "GEN/2026/00001"]
    verification = (await cfo.get(f"{F}/companies/{company['id']}/verification")).json()
    assert verification == {
        "company_id": company["id"],
        "intact": True,
        "entries": 4,
        "broken_at": None,
        "problem": None,
    }


async def test_every_posting_is_an_event_for_consumers(world: World) -> None:
    """``finance.entry.posted`` on ``finance.events``, in the posting's transaction: one per entry,
    reversals included, and none for an entry that was refused."""
    cfo, company, k = await _books(world)
    first = (
        await cfo.post(
            f"{F}/journal-entries",
            json=_entry(company, "2026-03-01", (k["bank"], "250.00", "0"), (k["equity"], "0", "250.00")),
        )
    ).json()
    refused = await cfo.post(
        f"{F}/journal-entries", json=_entry(company, "2026-03-01", (k["bank"], "1", "0"), (k["equity"], "0", "2"))
    )
    assert refused.status_code == 422
    reversal = await cfo.post(f"{F}/journal-entries/{first['id']}/reverse", json={"reason": "typo"})
    assert reversal.status_code == 201, reversal.text
    async with world.rt.db.platform_session() as session:
        rows = await session.scalars(
            select(OutboxEvent).where(OutboxEvent.topic == "finance.events").order_by(OutboxEvent.created_at)
        )
        events = [e.envelope for e in rows]
    assert [(e["type"], e["subject"], e["data"]["number"]) for e in events] == [
        ("finance.entry.posted", first["id"], "GEN/2026/00001"),
        ("finance.entry.posted", reversal.json()["id"], "GEN/2026/00002"),
    ]
    assert events[0]["data"] | {"entry_id": None} == {
        "entry_id": None,
        "company_id": company["id"],
        "journal": "GEN",
        "number": "GEN/2026/00001",
        "date": "2026-03-01",
        "currency": "EUR",
        "total": "250.00",
        "lines": 2,
        "source": "manual",
        "source_id": None,
        "reversal_of": None,
    }
    assert events[1]["data"]["reversal_of"] == first["id"]
    acme = await world.rt.tenants.resolve("acme")
    assert acme is not None
    assert all(e["tenantid"] == acme.id and e["specversion"] == "1.0" and e["id"] for e in events)
    assert len({e["id"] for e in events}) == 2


async def test_bad_entries_are_refused_naming_the_line_and_nothing_is_written(world: World) -> None:
    cfo, company, k = await _books(world)
    cases: list[tuple[dict[str, Any], int, str]] = [
        (_entry(company, "2026-03-01", (k["bank"], "100", "0"), (k["equity"], "0", "99.99")), 422, "lines"),
        (_entry(company, "2026-03-01", (k["bank"], "100", "0"), ("nope", "0", "100")), 422, "lines[2].account"),
        (_entry(company, "2026-03-01", (k["bank"], "100", "0"), (k["equity"], "0", "0")), 422, "lines[2]"),
        (_entry(company, "2026-03-01", (k["bank"], "100", "100"), (k["equity"], "0", "0")), 422, "lines[1]"),
        (
            _entry(company, "2026-03-01", (k["bank"], "100.001", "0"), (k["equity"], "0", "100.001")),
            422,
            "lines[1].debit",
        ),
        (
            _entry(company, "2026-03-01", (k["bank"], "100", "0"), (k["equity"], "0", "100"), journal="XX"),
            422,
            "journal",
        ),
    ]
    for body, status, field in cases:
        refused = problem(await cfo.post(f"{F}/journal-entries", json=body), status)
        assert refused["field"] == field, refused
        assert "line" in refused["detail"] or field in ("journal", "lines"), refused
    foreign = _entry(company, "2026-03-01", (k["bank"], "100", "0"), (k["equity"], "0", "100"))
    for line in foreign["lines"]:
        line["currency"] = "USD"
    refused = problem(await cfo.post(f"{F}/journal-entries", json=foreign), 422)
    assert refused["field"] == "lines[1].currency" and "no USD rate for 2026-03-01" in refused["detail"]
    one_line = _entry(company, "2026-03-01", (k["bank"], "100", "0"))
    assert (await cfo.post(f"{F}/journal-entries", json=one_line)).status_code == 422
    assert await _rows(world, Entry) == 0 and await _rows(world, Line) == 0 and await _rows(world, Balance) == 0


async def test_drafts_post_later_and_posted_entries_are_only_reversed(world: World) -> None:
    cfo, company, k = await _books(world)
    draft = await cfo.post(
        f"{F}/journal-entries",
        json=_entry(company, "2026-04-01", (k["expense"], "80", "0"), (k["payable"], "0", "80"), post=False),
    )
    assert draft.status_code == 201 and draft.json()["state"] == "draft" and draft.json()["number"] is None
    assert draft.json()["lines"] == [] and len(draft.json()["draft_lines"]) == 2
    entry_id = draft.json()["id"]
    posted = (await cfo.post(f"{F}/journal-entries/{entry_id}/post")).json()
    assert posted["state"] == "posted" and posted["number"] == "GEN/2026/00001" and len(posted["lines"]) == 2
    problem(await cfo.post(f"{F}/journal-entries/{entry_id}/post"), 409)
    problem(await cfo.delete(f"{F}/journal-entries/{entry_id}"), 409)

    attached = await cfo.post(
        f"{F}/journal-entries/{entry_id}/attachments",
        files={"file": ("receipt.txt", b"paid in cash", "text/plain")},
        headers=await csrf(cfo),
    )
    assert attached.status_code == 201, attached.text
    download = await cfo.get(f"{F}/journal-entries/{entry_id}/attachments/{attached.json()['id']}")
    assert download.content == b"paid in cash"

    reversal = await cfo.post(f"{F}/journal-entries/{entry_id}/reverse", json={"reason": "booked twice"})
    assert reversal.status_code == 201, reversal.text
    mirror = reversal.json()
    assert mirror["reversal_of_id"] == entry_id and mirror["number"] == "GEN/2026/00002"
    assert [(line["debit"], line["credit"]) for line in mirror["lines"]] == [
        (line["credit"], line["debit"]) for line in posted["lines"]
    ]
    original = (await cfo.get(f"{F}/journal-entries/{entry_id}")).json()
    assert original["state"] == "reversed" and original["reversed_by_id"] == mirror["id"]
    problem(await cfo.post(f"{F}/journal-entries/{entry_id}/reverse", json={"reason": "again"}), 409)

    other = await cfo.post(
        f"{F}/journal-entries",
        json=_entry(company, "2026-04-02", (k["expense"], "1", "0"), (k["bank"], "0", "1"), post=False),
    )
    assert (await cfo.delete(f"{F}/journal-entries/{other.json()['id']}")).status_code == 204
    assert (await cfo.get(f"{F}/journal-entries/{other.json()['id']}")).status_code == 404
    async with acting(world.rt, "acme") as access:
        assert (await verify(access.session, company["id"])).intact


async def test_foreign_currency_lines_store_their_rate_and_rounding_is_never_lost(world: World) -> None:
    cfo, company, k = await _books(world)
    saved = await cfo.post(
        f"{F}/exchange-rates",
        params={"company_id": company["id"]},
        json=[{"currency": "USD", "date": "2026-05-01", "rate": "0.9333"}],
    )
    assert saved.status_code == 201, saved.text
    # Three lines at 0.9333: 10.00 → 9.33, 10.00 → 9.33, 20.00 → 18.67 (18.666 rounded).
    body = {
        "company_id": company["id"],
        "date": "2026-05-03",
        "lines": [
            {"account": k["expense"], "debit": "10.00", "currency": "USD"},
            {"account": k["expense"], "debit": "10.00", "currency": "USD"},
            {"account": k["payable"], "credit": "20.00", "currency": "USD"},
        ],
    }
    posted = await cfo.post(f"{F}/journal-entries", json=body)
    assert posted.status_code == 201, posted.text
    lines = posted.json()["lines"]
    assert [Decimal(line["rate"]) for line in lines[:3]] == [Decimal("0.9333")] * 3
    # 18.66 debited against 18.67 credited: the missing cent is debited to the rounding account
    assert [(Decimal(x["debit"]), Decimal(x["credit"])) for x in lines] == [
        (Decimal("9.33"), 0),
        (Decimal("9.33"), 0),
        (0, Decimal("18.67")),
        (Decimal("0.01"), 0),
    ]
    assert len(lines) == 4 and lines[3]["account_id"] != lines[0]["account_id"]
    assert sum(Decimal(x["debit"]) - Decimal(x["credit"]) for x in lines) == 0
    assert posted.json()["currency"] == "USD"  # the transaction currency; the rounding line is in EUR

    explicit = await cfo.post(
        f"{F}/journal-entries",
        json={
            "company_id": company["id"],
            "date": "2026-06-30",
            "lines": [
                {"account": k["bank"], "debit": "100", "currency": "GBP", "rate": "1.17"},
                {"account": k["income"], "credit": "100", "currency": "GBP", "rate": "1.17"},
            ],
        },
    )
    assert explicit.status_code == 201 and explicit.json()["currency"] == "GBP"
    assert explicit.json()["lines"][0]["debit"] == "117.00"


async def test_lock_dates_soft_for_most_hard_for_everyone(world: World) -> None:
    cfo, company, k = await _books(world)
    async with acting(world.rt, "acme") as access:
        tenant = access.tenant.id
    await world.person("admin@acme.example", tenant, catalog.TENANT_ADMIN)
    clerk_id = await world.person("clerk@acme.example", tenant)
    admin = await world.login("admin@acme.example")
    made = await admin.post(
        "/api/v1/tenants/acme/roles", json={"name": "Bookkeeper", "permission_sets": ["finance.bookkeeping"]}
    )
    assert made.status_code == 201, made.text
    given = await admin.put(f"/api/v1/tenants/acme/role-assignments/members/{clerk_id}", json={"role": "Bookkeeper"})
    assert given.status_code == 200, given.text
    clerk = await world.login("clerk@acme.example")
    entry = _entry(company, "2026-01-31", (k["expense"], "10", "0"), (k["bank"], "0", "10"))
    locked = await cfo.put(f"{F}/companies/{company['id']}/lock-dates", json={"soft_lock_date": "2026-01-31"})
    assert locked.status_code == 200, locked.text
    assert locked.json()["soft_lock_date"] == "2026-01-31"
    # the bookkeeper may post but not lock periods: the soft lock stops them, not the Finance Admin
    problem(await clerk.post(f"{F}/journal-entries", json=entry), 409, "period-locked")
    problem(await clerk.put(f"{F}/companies/{company['id']}/lock-dates", json={"soft_lock_date": None}), 403)
    assert (await cfo.post(f"{F}/journal-entries", json=entry)).status_code == 201
    hard = await cfo.put(f"{F}/companies/{company['id']}/lock-dates", json={"hard_lock_date": "2026-01-31"})
    assert hard.status_code == 200 and hard.json()["hard_lock_date"] == "2026-01-31"
    before = await _rows(world, Entry)
    refused = problem(await cfo.post(f"{F}/journal-entries", json=entry), 409, "period-locked")
    assert refused["field"] == "date" and "2026-01-31" in refused["detail"]
    assert await _rows(world, Entry) == before
    problem(await cfo.put(f"{F}/companies/{company['id']}/lock-dates", json={"hard_lock_date": "2025-12-31"}), 422)
    problem(await cfo.put(f"{F}/companies/{company['id']}/lock-dates", json={"hard_lock_date": None}), 422)
    later = _entry(company, "2026-02-01", (k["expense"], "10", "0"), (k["bank"], "0", "10"))
    assert (await cfo.post(f"{F}/journal-entries", json=later)).status_code == 201


async def test_the_chain_catches_a_changed_line(world: World) -> None:
    cfo, company, k = await _books(world)
    for day in ("2026-03-01", "2026-03-02", "2026-03-03"):
        made = await cfo.post(
            f"{F}/journal-entries", json=_entry(company, day, (k["expense"], "10", "0"), (k["bank"], "0", "10"))
        )
        assert made.status_code == 201
    second = made.json()["number"].replace("00003", "00002")
    async with acting(world.rt, "acme") as access:
        dialect = access.session.get_bind().dialect.name
        tamper = text(
            "UPDATE finance_lines SET debit = 1 WHERE entry_id = "
            "(SELECT id FROM finance_entries WHERE number = :n) AND debit > 0"
        )
        if dialect == "postgresql":
            # the database itself refuses: posted lines are immutable even to a direct UPDATE
            with pytest.raises(DBAPIError, match="cannot be changed"):
                async with access.session.begin_nested():
                    await access.session.execute(tamper, {"n": second})
            await access.session.execute(text("SELECT set_config('atrium.purge', 'on', true)"))
        await access.session.execute(tamper, {"n": second})
    async with acting(world.rt, "acme") as access:
        result = await verify(access.session, company["id"])
    assert not result.intact and result.broken_at == second and result.entries == 1, result
    assert (await cfo.get(f"{F}/companies/{company['id']}/verification")).json()["broken_at"] == second


async def test_auditors_read_members_are_refused_and_other_tenants_get_404(world: World) -> None:
    cfo, company, k = await _books(world)
    made = await cfo.post(
        f"{F}/journal-entries", json=_entry(company, "2026-03-01", (k["expense"], "10", "0"), (k["bank"], "0", "10"))
    )
    entry_id = made.json()["id"]
    async with acting(world.rt, "acme") as access:
        tenant = access.tenant.id
    await world.person("auditor@acme.example", tenant, catalog.AUDITOR)
    await world.person("member@acme.example", tenant)
    auditor = await world.login("auditor@acme.example")
    assert (await auditor.get(f"{F}/journal-entries/{entry_id}")).status_code == 200
    problem(await auditor.post(f"{F}/journal-entries/{entry_id}/reverse", json={"reason": "x"}), 403)
    problem(await auditor.put(f"{F}/companies/{company['id']}/lock-dates", json={"soft_lock_date": "2026-01-01"}), 403)
    member = await world.login("member@acme.example")
    problem(await member.get(f"{F}/journal-entries", params={"company_id": company["id"]}), 403)

    other_id = await world.tenant("other")
    await world.person("cfo@other.example", other_id, "Finance Admin")
    other = await world.login("cfo@other.example")
    o = "/api/v1/tenants/other/finance"
    for path in (
        f"{o}/journal-entries/{entry_id}",
        f"{o}/companies/{company['id']}/verification",
        f"{o}/journals?company_id={company['id']}",
        f"{o}/journal-entries?company_id={company['id']}",
        f"{o}/exchange-rates?company_id={company['id']}",
    ):
        assert (await other.get(path)).status_code == 404, path
    assert (await other.post(f"{o}/journal-entries/{entry_id}/reverse", json={"reason": "x"})).status_code == 404
    foreign = _entry(company, "2026-03-01", (k["expense"], "10", "0"), (k["bank"], "0", "10"))
    assert (await other.post(f"{o}/journal-entries", json=foreign)).status_code == 404
    assert (await other.get(f"{F}/journal-entries/{entry_id}")).status_code == 404


async def test_intercompany_entries_are_paired_in_both_ledgers(world: World) -> None:
    cfo, parent, k = await _books(world)
    child = (
        await cfo.post(f"{F}/companies", json={"name": "Acme Services", "base_currency": "EUR", "chart_template": "uk"})
    ).json()
    child_accounts = (await cfo.get(f"{F}/accounts", params={"company_id": child["id"]})).json()
    expense = next(a["code"] for a in child_accounts if a["kind"] == "expense")
    made = await cfo.post(
        f"{F}/journal-entries/intercompany",
        json={
            "date": "2026-05-31",
            "amount": "2500.00",
            "sender_company_id": parent["id"],
            "sender_account": k["income"],
            "receiver_company_id": child["id"],
            "receiver_account": expense,
            "memo": "Management fee May",
        },
    )
    assert made.status_code == 201, made.text
    sent, received = made.json()
    assert (sent["company_id"], received["company_id"]) == (parent["id"], child["id"])
    assert received["number"] in sent["reference"] and sent["number"] in received["reference"]
    assert sent["total"] == received["total"] == "2500.00"
    assert sent["lines"][0]["label"] == "Due from Acme Services"

    reversed_ = await cfo.post(f"{F}/journal-entries/{received['id']}/reverse", json={"reason": "fee waived"})
    assert reversed_.status_code == 201, reversed_.text
    for entry in (sent, received):
        assert (await cfo.get(f"{F}/journal-entries/{entry['id']}")).json()["state"] == "reversed"
    bad = {
        "date": "2026-05-31",
        "amount": "1",
        "sender_company_id": parent["id"],
        "sender_account": k["income"],
        "receiver_company_id": parent["id"],
        "receiver_account": k["expense"],
    }
    problem(await cfo.post(f"{F}/journal-entries/intercompany", json=bad), 422)
