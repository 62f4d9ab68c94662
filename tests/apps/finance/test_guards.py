"""Guards between companies, parties and modules inside one tenant: values the chain could not
hash as stored, another company's party, one customer's payment on another's invoice, module
entries reversed behind the module's back, reconciliations undone around their owner, repeated
counterparts, and dates outside the calendar the ledger keeps."""

from __future__ import annotations

from typing import Any

from tests.apps.finance.test_banking import F, _import, _setup
from tests.platform.access.conftest import World, problem


def _entry(company: dict[str, Any], lines: list[dict[str, Any]], day: str = "2026-01-05") -> dict[str, Any]:
    return {"company_id": company["id"], "date": day, "lines": lines}


async def test_the_ledger_refuses_what_would_break_it_quietly(world: World) -> None:
    cfo, company, k, _bank = await _setup(world)
    c = company["id"]
    # values with more places than their columns would be stored differently from what is hashed
    for line in (
        {"account": k["bank"], "debit": "1", "currency": "USD", "rate": "1.00000000005"},
        {"account": k["bank"], "debit": "1", "tax_rate": "0.12345"},
        {"account": k["bank"], "debit": "1", "tax_base": "0.00005"},
    ):
        body = _entry(company, [line, {"account": k["income"], "credit": "1", "currency": line.get("currency")}])
        problem(await cfo.post(f"{F}/journal-entries", json=body), 422)
    for day in ("0001-01-03", "9999-12-20"):
        body = _entry(company, [{"account": k["bank"], "debit": "1"}, {"account": k["income"], "credit": "1"}], day)
        problem(await cfo.post(f"{F}/journal-entries", json=body), 422)
    tb = await cfo.get(
        f"{F}/reports/trial-balance", params={"company_id": c, "date_from": "0001-01-01", "date_to": "0001-01-31"}
    )
    problem(tb, 422)

    # a party of another company, or none at all, is refused on the line that names it
    other = (await cfo.post(f"{F}/companies", json={"name": "Other", "base_currency": "EUR"})).json()
    stranger = await cfo.post(f"{F}/parties", json={"company_id": other["id"], "name": "Stranger"})
    assert stranger.status_code == 201, stranger.text
    for party in (stranger.json()["id"], "no-such-party"):
        body = _entry(
            company,
            [{"account": k["receivable"], "debit": "5", "party_id": party}, {"account": k["income"], "credit": "5"}],
        )
        assert problem(await cfo.post(f"{F}/journal-entries", json=body), 422)["field"] == "lines[1].party_id"

    # one customer's payment does not settle another customer's invoice
    a = (await cfo.post(f"{F}/parties", json={"company_id": c, "name": "Alpha"})).json()["id"]
    b = (await cfo.post(f"{F}/parties", json={"company_id": c, "name": "Beta"})).json()["id"]
    invoice = await cfo.post(
        f"{F}/journal-entries",
        json=_entry(
            company,
            [{"account": k["receivable"], "debit": "50", "party_id": a}, {"account": k["income"], "credit": "50"}],
        ),
    )
    payment = await cfo.post(
        f"{F}/journal-entries",
        json=_entry(
            company,
            [{"account": k["bank"], "debit": "50"}, {"account": k["receivable"], "credit": "50", "party_id": b}],
        ),
    )
    lines = [invoice.json()["lines"][0]["id"], payment.json()["lines"][1]["id"]]
    problem(await cfo.post(f"{F}/reconciliations", json={"line_ids": lines}), 422)


async def test_module_records_are_only_changed_through_their_module(world: World) -> None:
    cfo, company, k, _bank = await _setup(world)
    statement = (await _import(cfo, company, "statement.camt053.xml")).json()
    fee = next(x for x in statement["lines"] if x["amount"] == "-12.50")
    done = await cfo.post(
        f"{F}/reconciliations", json={"bank_line_id": fee["id"], "counterparts": [{"account": k["expense"]}]}
    )
    assert done.status_code == 201, done.text
    refused = problem(
        await cfo.post(f"{F}/journal-entries/{done.json()['entry_id']}/reverse", json={"reason": "x"}), 409
    )
    assert "statement line" in refused["detail"]

    # a statement line's counterparts name each open line once
    receipt = await cfo.post(
        f"{F}/journal-entries",
        json=_entry(
            company, [{"account": k["bank"], "debit": "1500"}, {"account": k["income"], "credit": "1500"}], "2026-01-02"
        ),
    )
    bank_line_id = receipt.json()["lines"][0]["id"]
    big = next(x for x in statement["lines"] if x["amount"] == "1500.00")
    twice = [{"line_id": bank_line_id, "amount": "750"}, {"line_id": bank_line_id, "amount": "750"}]
    problem(await cfo.post(f"{F}/reconciliations", json={"bank_line_id": big["id"], "counterparts": twice}), 422)
    thirds = [{"account": k["income"], "amount": "999.995"}, {"account": k["income"], "amount": "500.005"}]
    problem(await cfo.post(f"{F}/reconciliations", json={"bank_line_id": big["id"], "counterparts": thirds}), 422)

    # a reversal's own settlement is not undone on its own
    entry = await cfo.post(
        f"{F}/journal-entries",
        json=_entry(company, [{"account": k["receivable"], "debit": "9"}, {"account": k["income"], "credit": "9"}]),
    )
    mirror = (await cfo.post(f"{F}/journal-entries/{entry.json()['id']}/reverse", json={"reason": "wrong"})).json()
    problem(await cfo.delete(f"{F}/reconciliations/{mirror['id']}"), 409)
