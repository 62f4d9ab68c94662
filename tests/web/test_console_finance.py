"""The finance console over HTTP: a company made from a chart template through the form and its
chart; an uploaded chart refused row by row; entries posted through the new-entry form (and
refused ones keeping every line as typed, naming the line), drafts, reversals, attachments and
the chain check; rates; the reports with their figures, drill-downs and downloads; the period
close. Another tenant finds none of it, a member without finance permissions neither, and a
tenant without the finance module is told so. Forms are posted as a browser does: the page
first, its CSRF token, then the form."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from typing import Any

import httpx
from sqlalchemy import func, select

from atrium.apps.finance import charts
from atrium.apps.finance.jobs import acting
from atrium.apps.finance.models import Company, Entry, ExchangeRate, Line
from atrium.platform.entitlements import service as entitlements
from atrium.platform.identity.models import User
from tests.platform.access.conftest import PASSWORD, World, world

__all__ = ["world"]

CFO, AUDITOR, MEMBER, OTHER = "cfo@acme.example", "auditor@acme.example", "member@acme.example", "cfo@other.example"
F = "/t/acme/finance"


async def _page(client: httpx.AsyncClient, path: str, status: int = 200) -> tuple[str, str]:
    """GET a console page: its text and the CSRF token of its forms."""
    response = await client.get(path, headers={"accept": "text/html"})
    assert response.status_code == status, (path, response.status_code, response.text[:800])
    token = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    return response.text, token.group(1) if token else ""


async def _post(
    client: httpx.AsyncClient, path: str, csrf: str, data: list[tuple[str, str]] | None = None, **form: Any
) -> httpx.Response:
    """A form post: repeated fields (the entry's lines) as pairs, single ones as keywords."""
    fields = [("csrf_token", csrf), *(data or []), *form.items()]
    files = {k: v for k, v in fields if isinstance(v, tuple)}
    body = [(k, v) for k, v in fields if not isinstance(v, tuple)]
    if files:  # multipart: httpx takes repeated fields as lists
        grouped: dict[str, Any] = {}
        for key, value in body:
            grouped.setdefault(key, []).append(value)
        return await client.post(path, data=grouped, files=files, headers={"accept": "text/html"})
    encoded = httpx.QueryParams(body)
    return await client.post(
        path,
        content=str(encoded).encode(),
        headers={"accept": "text/html", "content-type": "application/x-www-form-urlencoded"},
    )


async def _follow(client: httpx.AsyncClient, response: httpx.Response) -> tuple[str, str]:
    assert response.status_code == 303, (response.status_code, response.text[:800])
    return await _page(client, response.headers["location"].split("#")[0])


def _flashes(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<div class="flash flash-\w+" role="status">(.*?)</div>', page)]


def _text(fragment: str) -> str:
    """A piece of HTML as its words, for asserting on what a person reads."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _lines(*lines: tuple[str, str, str], labels: tuple[str, ...] = (), currency: str = "") -> list[tuple[str, str]]:
    """The new-entry form's line fields, one group of inputs per line, in order."""
    pairs: list[tuple[str, str]] = []
    for number, (account, debit, credit) in enumerate(lines):
        label = labels[number] if number < len(labels) else ""
        pairs += [("account", account), ("debit", debit), ("credit", credit), ("currency", currency), ("label", label)]
    return pairs


async def _user_id(world: World, email: str) -> str:
    async with world.rt.db.platform_session() as session:
        found = await session.scalar(select(User.id).where(User.email == email))
    assert found is not None
    return found


async def _acme(world: World) -> tuple[str, httpx.AsyncClient]:
    tenant_id = await world.tenant("acme")
    await world.person(CFO, tenant_id, "Finance Admin")
    return tenant_id, await world.login(CFO)


async def _company(
    cfo: httpx.AsyncClient, name: str = "Acme Ltd", template: str = "ifrs"
) -> tuple[str, dict[str, str]]:
    """A company made through the form; its id and, per account kind, the first account code."""
    _, csrf = await _page(cfo, F)
    made = await _post(
        cfo,
        f"{F}/companies",
        csrf,
        name=name,
        base_currency="eur",
        fiscal_year_start_month="1",
        chart_template=template,
    )
    assert made.status_code == 303, made.text[:800]
    company_id = made.headers["location"].rsplit("/", 1)[1]
    by_kind: dict[str, str] = {}
    for account in charts.TEMPLATES[template].accounts:
        if account.code not in charts.TEMPLATES[template].headers:
            by_kind.setdefault(account.kind.value, account.code)
    return company_id, by_kind


async def _count(world: World, model: Any) -> int:
    async with acting(world.rt, "acme") as access:
        return int(await access.session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_company_is_made_from_a_template_and_shows_its_chart(world: World) -> None:
    _, cfo = await _acme(world)
    page, csrf = await _page(cfo, "/t/acme")
    assert f'href="{F}"' in page  # the tenant navigation offers Finance
    page, csrf = await _page(cfo, F)
    assert "No company yet." in page and 'id="company-form"' in page
    assert all(f'value="{key}"' in page for key in charts.TEMPLATES)

    made = await _post(
        cfo,
        f"{F}/companies",
        csrf,
        name="Acme Ltd",
        base_currency="eur",
        fiscal_year_start_month="4",
        chart_template="fr_pcg",
    )
    page, csrf = await _follow(cfo, made)
    template = charts.TEMPLATES["fr_pcg"]
    assert _flashes(page) == [f"Acme Ltd is created with the {template.name} chart."]
    assert "April" in page and ">EUR<" in page
    rows = re.findall(r'<tr class="account" data-code="([^"]+)">', page)
    assert sorted(rows) == sorted(a.code for a in template.accounts)
    child = next(a for a in template.accounts if a.parent is not None)
    row = re.search(
        rf'data-code="{re.escape(child.code)}">\s*<td class="mono indent" style="padding-left: ([\d.]+)rem', page
    )
    assert row is not None and float(row.group(1)) > 0.5  # indented under its parent
    assert set(re.findall(r'<tr class="journal" data-code="(\w+)">', page)) >= {"GEN", "SAL", "PUR", "BNK", "FX", "CLS"}
    assert 'id="lock-form"' in page and "it only moves forward" in page

    listed, csrf = await _page(cfo, F)
    assert 'data-company="Acme Ltd"' in listed and template.name in listed
    # refused: the same name again, a currency that is no code; what was typed stays
    again = await _post(cfo, f"{F}/companies", csrf, name="acme ltd", base_currency="EUR", chart_template="ifrs")
    assert again.status_code == 409 and _flashes(again.text) == ["a company named 'acme ltd' exists"]
    assert 'value="acme ltd"' in again.text
    bad = await _post(cfo, f"{F}/companies", csrf, name="Beta", base_currency="EURO", chart_template="ifrs")
    assert bad.status_code == 400 and "base_currency" in _flashes(bad.text)[0]
    async with acting(world.rt, "acme") as access:
        assert [c.name for c in (await access.session.scalars(select(Company))).all()] == ["Acme Ltd"]


async def test_an_uploaded_chart_is_refused_row_by_row_then_loaded(world: World) -> None:
    _, cfo = await _acme(world)
    _, csrf = await _page(cfo, F)
    made = await _post(cfo, f"{F}/companies", csrf, name="Beta GmbH", base_currency="EUR", chart_template="")
    page, csrf = await _follow(cfo, made)
    assert made.headers["location"] == F
    assert _flashes(page) == ["Beta GmbH is created; upload its chart of accounts below."]
    company_id = re.search(rf'action="{F}/([^/"]+)/chart"', page)
    assert company_id is not None and "no chart of accounts yet" in page

    bad = "code,name,kind,parent\n1000,Bank,bank,\n1000,Cash,cash,\n2000,,payable,\n3000,Odd,wizardry,9999\n"
    refused = await _post(cfo, f"{F}/{company_id.group(1)}/chart", csrf, file=("chart.csv", bad.encode(), "text/csv"))
    assert refused.status_code == 422
    problems = re.findall(
        r'<tr class="row-problem" data-row="(\d+)"><td class="mono">\d+</td><td>(\w+)</td>', refused.text
    )
    assert ("3", "code") in problems and ("4", "name") in problems and ("5", "kind") in problems
    assert "nothing was saved" in refused.text

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["code", "name", "kind", "parent", "reconcile", "tax_rate"])
    writer.writeheader()
    for row in charts.TEMPLATES["ifrs"].as_rows():
        writer.writerow({k: row.get(k, "") for k in writer.fieldnames})
    loaded = await _post(
        cfo, f"{F}/{company_id.group(1)}/chart", csrf, file=("chart.csv", out.getvalue().encode(), "text/csv")
    )
    page, _ = await _follow(cfo, loaded)
    count = len(charts.TEMPLATES["ifrs"].accounts)
    assert _flashes(page) == [f"The chart is loaded: {count} accounts."]
    assert len(re.findall(r'<tr class="account"', page)) == count


async def test_entries_are_posted_refused_reversed_and_kept_with_attachments(world: World) -> None:
    _, cfo = await _acme(world)
    company_id, k = await _company(cfo)
    entries = f"{F}/{company_id}/entries"
    page, csrf = await _page(cfo, f"{entries}/new")
    assert page.count('<tr class="line">') == 2 and f'<option value="{k["bank"]}"' in page
    assert 'hx-post="' + entries + '/difference"' in page and 'hx-get="' + entries + '/line"' in page

    # unbalanced: refused, every line kept as typed, the difference shown
    unbalanced = _lines((k["bank"], "1000.00", ""), (k["equity"], "", "999.00"), labels=("Capital paid in",))
    refused = await _post(
        cfo, entries, csrf, unbalanced, journal="GEN", date="2026-03-01", memo="Capital", action="post"
    )
    assert refused.status_code == 422
    assert _flashes(refused.text) == [
        "the entry does not balance in EUR: debits 1000.00, credits 999.00, difference 1.00"
    ]
    assert (
        'value="999.00"' in refused.text
        and 'value="Capital paid in"' in refused.text
        and 'value="Capital"' in refused.text
    )
    assert f'<option value="{k["equity"]}" selected>' in refused.text
    difference = re.search(r'<div id="entry-difference".*?</div>', refused.text, re.S)
    assert difference is not None and "difference 1.00" in _text(difference.group(0))

    # a line that is both a debit and a credit: refused naming line 2, shown on line 2
    both = _lines((k["bank"], "50", ""), (k["expense"], "50", "50"), ("", "", ""))
    refused = await _post(cfo, entries, csrf, both, journal="GEN", date="2026-03-01", action="post")
    assert refused.status_code == 422
    assert _flashes(refused.text) == ["line 2: a line is either a debit or a credit"]
    rows = re.findall(r'<tr class="(line[^"]*)">(.*?)</tr>', refused.text, re.S)
    assert [cls for cls, _ in rows] == ["line", "line line-error"]  # the empty third line is left out
    assert "line 2: a line is either a debit or a credit" in _text(rows[1][1])
    assert await _count(world, Entry) == 0 and await _count(world, Line) == 0

    # the running difference and one more line, as the form's HTMX asks for them
    diff = await _post(cfo, f"{entries}/difference", csrf, _lines((k["bank"], "12.50", ""), (k["equity"], "", "10")))
    assert diff.status_code == 200 and "difference 2.50" in _text(diff.text) and "<html" not in diff.text
    line = await cfo.get(f"{entries}/line", headers={"accept": "text/html", "hx-request": "true"})
    assert line.text.strip().startswith('<tr class="line">') and f'<option value="{k["expense"]}"' in line.text

    # balanced: posted, numbered, hashed
    posted = await _post(
        cfo,
        entries,
        csrf,
        unbalanced[:-5] + _lines((k["equity"], "", "1000.00")),
        journal="GEN",
        date="2026-03-01",
        reference="SH-1",
        memo="Capital",
        action="post",
    )
    assert posted.status_code == 303
    page, csrf = await _follow(cfo, posted)
    entry_url = posted.headers["location"]
    assert _flashes(page) == ["GEN/2026/00001 is posted."]
    assert 'id="entry-state">posted<' in page and re.search(r'id="entry-hash">[0-9a-f]{64}<', page)
    assert f'<span class="mono">{k["bank"]}</span>' in page and "1,000.00" in page and "Capital paid in" in page
    assert ".0000" not in page  # amounts at the currency's places, not the column's four

    listed, _ = await _page(cfo, f"{entries}?state=posted")
    assert re.findall(r'data-number="([^"]*)" data-state="posted"', listed) == ["GEN/2026/00001"]
    none, _ = await _page(cfo, f"{entries}?state=draft")
    assert "No entries match the filters." in none
    bad_filter, _ = await _page(cfo, f"{entries}?date_from=yesterday", 422)
    assert _flashes(bad_filter) == ["date_from: 'yesterday' is not a date (YYYY-MM-DD)"]

    # an attachment, uploaded and downloaded
    attached = await _post(cfo, f"{entry_url}/attachments", csrf, file=("receipt.txt", b"paid in full", "text/plain"))
    page, csrf = await _follow(cfo, attached)
    assert _flashes(page) == ["receipt.txt is attached."]
    link = re.search(rf'href="({re.escape(entry_url)}/attachments/[^"]+)" download>receipt.txt<', page)
    assert link is not None
    download = await cfo.get(link.group(1))
    assert download.content == b"paid in full" and "receipt.txt" in download.headers["content-disposition"]

    # reversed with a reason: the mirror entry, linked both ways
    reversed_ = await _post(cfo, f"{entry_url}/reverse", csrf, reason="Wrong account", date="2026-03-05")
    page, csrf = await _follow(cfo, reversed_)
    assert _flashes(page) == ["GEN/2026/00001 is reversed by GEN/2026/00002."]
    assert 'id="reversal-of">GEN/2026/00001<' in page and 'id="entry-date">2026-03-05<' in page
    original, csrf = await _page(cfo, entry_url)
    assert 'id="entry-state">reversed<' in original and 'id="reversed-by">GEN/2026/00002<' in original
    again = await _post(cfo, f"{entry_url}/reverse", csrf, reason="Twice")
    page, _ = await _follow(cfo, again)
    assert _flashes(page) == ["entry GEN/2026/00001 is already reversed"]

    # a draft: saved, then posted; another deleted
    draft = await _post(
        cfo,
        entries,
        csrf,
        _lines((k["expense"], "40", ""), (k["bank"], "", "40")),
        journal="BNK",
        date="2026-03-10",
        action="draft",
    )
    page, csrf = await _follow(cfo, draft)
    draft_url = draft.headers["location"]
    assert _flashes(page) == ["The draft is saved."] and 'id="entry-state">draft<' in page
    page, csrf = await _follow(cfo, await _post(cfo, f"{draft_url}/post", csrf))
    assert _flashes(page) == ["BNK/2026/00001 is posted."]
    other = await _post(
        cfo,
        entries,
        csrf,
        _lines((k["expense"], "5", ""), (k["bank"], "", "5")),
        journal="GEN",
        date="2026-03-11",
        action="draft",
    )
    _, csrf = await _follow(cfo, other)
    page, _ = await _follow(cfo, await _post(cfo, f"{other.headers['location']}/delete", csrf))
    assert _flashes(page) == ["The draft is deleted."] and "GEN/2026/00003" not in page

    # the chain: the button's HTMX fragment and the plain form's page
    _, csrf = await _page(cfo, f"{F}/{company_id}")
    fragment = await cfo.post(
        f"{F}/{company_id}/verify", data={"csrf_token": csrf}, headers={"accept": "text/html", "hx-request": "true"}
    )
    assert 'data-intact="true"' in fragment.text and "All 3 posted entries check out" in _text(fragment.text)
    plain = await _post(cfo, f"{F}/{company_id}/verify", csrf)
    assert plain.status_code == 200 and 'id="chart"' in plain.text and 'data-intact="true"' in plain.text
    # another company's entry is not found under this one
    second_id, _ = await _company(cfo, "Second Ltd")
    await _page(cfo, entry_url.replace(company_id, second_id), 404)


async def test_lock_dates_rates_and_revaluation(world: World) -> None:
    _, cfo = await _acme(world)
    company_id, k = await _company(cfo)
    company_url = f"{F}/{company_id}"
    _, csrf = await _page(cfo, company_url)
    # locking is privileged and the Finance Admin role asks for the password again after a while
    cfo_id = await _user_id(world, CFO)
    await world.age_sessions(cfo_id, signed_in=dt.timedelta(hours=1), reauthenticated=dt.timedelta(hours=1))
    asked = await _post(cfo, f"{company_url}/lock-dates", csrf, soft_lock_date="2026-02-28")
    assert asked.status_code == 303 and asked.headers["location"].startswith("/t/acme/step-up?next=")
    _, csrf = await _follow(cfo, asked)
    confirmed = await _post(cfo, "/t/acme/step-up", csrf, password=PASSWORD, next=company_url)
    assert confirmed.status_code == 303 and confirmed.headers["location"] == company_url
    page, csrf = await _follow(cfo, confirmed)
    assert 'id="soft-lock">—<' in page  # the form is sent again by hand, never replayed
    async with acting(world.rt, "acme") as access:
        assert (await access.session.scalars(select(Company))).one().soft_lock_date is None
    locked = await _post(
        cfo, f"{company_url}/lock-dates", csrf, soft_lock_date="2026-02-28", hard_lock_date="2026-01-31"
    )
    page, csrf = await _follow(cfo, locked)
    assert _flashes(page) == ["Lock dates saved: soft lock 2026-02-28, hard lock 2026-01-31."]
    back = await _post(cfo, f"{company_url}/lock-dates", csrf, soft_lock_date="2026-02-28", hard_lock_date="2025-12-31")
    page, csrf = await _follow(cfo, back)
    assert _flashes(page) == ["the hard lock date only moves forward; it is 2026-01-31"]
    assert 'id="hard-lock">2026-01-31<' in page
    refused = await _post(
        cfo,
        f"{company_url}/entries",
        csrf,
        _lines((k["bank"], "1", ""), (k["equity"], "", "1")),
        journal="GEN",
        date="2026-01-15",
        action="post",
    )
    assert refused.status_code == 409 and "locked up to 2026-01-31 for everyone" in _flashes(refused.text)[0]

    # rates: one typed, a bad upload listed row by row, a good upload, a revaluation
    rates = f"{company_url}/rates"
    page, csrf = await _page(cfo, rates)
    assert "No exchange rates yet." in page
    saved = await _post(cfo, rates, csrf, currency="usd", date="2026-03-31", rate="0.9")
    page, csrf = await _follow(cfo, saved)
    assert _flashes(page) == ["The USD rate of 2026-03-31 is saved."]
    assert 'data-currency="USD" data-date="2026-03-31"' in page
    own = await _post(cfo, rates, csrf, currency="EUR", date="2026-03-31", rate="1")
    assert own.status_code == 422 and 'value="EUR"' in own.text
    bad = b"currency,date,rate\nUSD,2026-03-02,0.91\nXX,2026-03-03,1\nGBP,someday,-1\n"
    refused = await _post(cfo, f"{rates}/import", csrf, file=("rates.csv", bad, "text/csv"))
    assert refused.status_code == 422
    problems = re.findall(
        r'<tr class="row-problem" data-row="(\d+)"><td class="mono">\d+</td><td>(\w+)</td>', refused.text
    )
    assert problems == [("3", "currency"), ("4", "date"), ("4", "rate")]
    good = b"currency,date,rate\nUSD,2026-03-02,0.91\nGBP,2026-03-02,1.17\n"
    page, csrf = await _follow(cfo, await _post(cfo, f"{rates}/import", csrf, file=("rates.csv", good, "text/csv")))
    assert _flashes(page) == ["2 rate(s) are saved."] and await _count(world, ExchangeRate) == 3

    usd = _lines((k["bank"], "100", ""), (k["equity"], "", "100"), currency="USD")
    posted = await _post(cfo, f"{company_url}/entries", csrf, usd, journal="GEN", date="2026-03-02", action="post")
    page, csrf = await _follow(cfo, posted)
    assert "<th>Currency</th>" in page and "Amount in currency" in page and "0.91" in page
    revalued = await _post(cfo, f"{company_url}/revaluation", csrf, as_of="2026-03-31")
    page, csrf = await _follow(cfo, revalued)
    assert re.fullmatch(r"Revaluation FX/2026/00001 is posted and reversed the next day\.", _flashes(page)[0])
    nothing = await _post(cfo, f"{company_url}/revaluation", csrf, as_of="2026-03-31")
    page, _ = await _follow(cfo, nothing)
    assert "was already revalued at 2026-03-31" in _flashes(page)[0]


async def test_reports_show_figures_drill_down_and_download(world: World) -> None:
    _, cfo = await _acme(world)
    company_id, k = await _company(cfo)
    company_url = f"{F}/{company_id}"
    _, csrf = await _page(cfo, f"{company_url}/entries/new")
    for day, lines in (
        ("2026-02-01", _lines((k["bank"], "1000", ""), (k["equity"], "", "1000"))),
        ("2026-03-15", _lines((k["expense"], "250.50", ""), (k["bank"], "", "250.50"))),
    ):
        assert (await _post(cfo, f"{company_url}/entries", csrf, lines, journal="GEN", date=day)).status_code == 303

    index, _ = await _page(cfo, f"{company_url}/reports")
    for kind in ("trial-balance", "profit-and-loss", "balance-sheet", "general-ledger", "tax", "journal-audit"):
        assert f'href="{company_url}/reports/{kind}"' in index
    range_ = "date_from=2026-01-01&date_to=2026-12-31"
    tb, _ = await _page(cfo, f"{company_url}/reports/trial-balance?{range_}")
    row = re.search(rf'<tr class="tb-row" data-code="{k["bank"]}">(.*?)</tr>', tb, re.S)
    assert row is not None
    assert _text(re.search(r'class="num debit">(.*?)</td>', row.group(1), re.S).group(1)) == "1,000.00"  # type: ignore[union-attr]
    assert _text(re.search(r'class="num closing">(.*?)</td>', row.group(1), re.S).group(1)) == "749.50"  # type: ignore[union-attr]
    total = re.search(r'<tr class="total" id="tb-total">(.*?)</tr>', tb, re.S)
    assert total is not None and _text(total.group(1)) == "Total 0.00 1,250.50 1,250.50 0.00"
    assert 'id="tb-balanced">balanced<' in tb
    drill = re.search(r'<a href="([^"]+)" class="drill">', row.group(1))
    assert drill is not None and drill.group(1).startswith(f"{company_url}/reports/general-ledger?")
    choose, _ = await _page(cfo, f"{company_url}/reports/general-ledger")  # from the list: the form first
    assert "Choose an account…" in choose and not _flashes(choose) and 'id="report"' not in choose
    gl, _ = await _page(cfo, html.unescape(drill.group(1)))
    assert 'id="ledger-closing">749.50<' in gl
    numbers = re.findall(r'<tr class="ledger-line" data-number="([^"]+)">', gl)
    assert numbers == ["GEN/2026/00001", "GEN/2026/00002"]
    entry_link = re.search(r'<a href="([^"]+/entries/[^"]+)">GEN/2026/00002</a>', gl)
    assert entry_link is not None
    entry, _ = await _page(cfo, entry_link.group(1))
    assert 'id="entry-number">GEN/2026/00002<' in entry

    comparison, _ = await _page(
        cfo, f"{company_url}/reports/trial-balance?{range_}&compare_from=2025-01-01&compare_to=2025-12-31"
    )
    assert "Closing (comparison)" in comparison
    pnl, _ = await _page(cfo, f"{company_url}/reports/profit-and-loss?{range_}")
    net = re.search(r'<tr class="total" id="net-result">(.*?)</tr>', pnl, re.S)
    assert net is not None and _text(net.group(1)) == "Net result (loss) -250.50"
    bs, _ = await _page(cfo, f"{company_url}/reports/balance-sheet?as_of=2026-12-31")
    assert 'id="bs-balanced">assets equal liabilities and equity<' in bs
    tax, _ = await _page(cfo, f"{company_url}/reports/tax?{range_}")
    assert 'id="tax-net">0.00<' in tax
    audit, _ = await _page(cfo, f"{company_url}/reports/journal-audit?{range_}")
    assert "numbering has no gaps" in audit and audit.count('class="section audit-entry"') == 2
    refused, _ = await _page(cfo, f"{company_url}/reports/trial-balance?date_from=2026-12-31&date_to=2026-01-01", 422)
    assert _flashes(refused) == ["date_from 2026-12-31 is after date_to 2026-01-01"] and 'id="report"' not in refused

    # the downloads: the same figures as files
    export = re.search(r'<a href="([^"]+)" class="export-csv" download>CSV</a>', tb)
    assert export is not None
    download = await cfo.get(html.unescape(export.group(1)))
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    assert 'filename="trial-balance.csv"' in download.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    bank = next(r for r in rows if r and r[0] == k["bank"])
    assert rows[0][:3] == ["Code", "Account", "Opening"] and bank[2:] == ["0.00", "1000.00", "250.50", "749.50"]
    for fmt, media in (("xlsx", "spreadsheetml"), ("pdf", "application/pdf")):
        got = await cfo.get(f"{company_url}/reports/profit-and-loss?{range_}&format={fmt}")
        assert got.status_code == 200 and media in got.headers["content-type"] and len(got.content) > 100
    unknown = await cfo.get(f"{company_url}/reports/trial-balance?{range_}&format=doc", headers={"accept": "text/html"})
    assert unknown.status_code == 422


async def test_the_period_close_page_closes_a_year(world: World) -> None:
    _, cfo = await _acme(world)
    company_id, k = await _company(cfo)
    company_url = f"{F}/{company_id}"
    _, csrf = await _page(cfo, f"{company_url}/entries/new")
    lines = _lines((k["bank"], "300", ""), (k["income"], "", "300"))
    assert (
        await _post(cfo, f"{company_url}/entries", csrf, lines, journal="GEN", date="2025-06-30")
    ).status_code == 303
    page, csrf = await _page(cfo, f"{company_url}/periods?fiscal_year=2025")
    assert len(re.findall(r'<tr class="period" data-period="2025-\d\d" data-lock="open">', page)) == 12
    assert 'class="check-item"' in page and 'id="close-year-form"' in page and 'id="year-state">open<' in page
    closed = await _post(cfo, f"{company_url}/periods/close-year", csrf, fiscal_year="2025", lock="on")
    page, _ = await _follow(cfo, closed)
    assert _flashes(page) == [
        "Fiscal year 2025 is closed: net result 300.00 moved by CLS/2025/00001; locked up to 2025-12-31."
    ]
    assert 'id="year-state">closed<' in page and 'id="close-year-form"' not in page
    assert len(re.findall(r'data-lock="hard"', page)) == 12


async def test_other_tenants_members_and_tenants_without_finance_find_nothing(world: World) -> None:
    tenant_id, cfo = await _acme(world)
    company_id, k = await _company(cfo)
    company_url = f"{F}/{company_id}"
    _, csrf = await _page(cfo, f"{company_url}/entries/new")
    posted = await _post(
        cfo,
        f"{company_url}/entries",
        csrf,
        _lines((k["bank"], "1", ""), (k["equity"], "", "1")),
        journal="GEN",
        date="2026-03-01",
    )
    entry_url = posted.headers["location"]
    pages = [F, company_url, f"{company_url}/entries", entry_url, f"{company_url}/entries/new", f"{company_url}/rates"]
    pages += [f"{company_url}/reports", f"{company_url}/reports/trial-balance", f"{company_url}/periods"]
    forms = [f"{F}/companies", f"{company_url}/entries", f"{entry_url}/reverse", f"{company_url}/rates"]
    forms += [f"{company_url}/lock-dates", f"{company_url}/periods/close-year", f"{company_url}/verify"]

    other_id = await world.tenant("other")
    await world.person(OTHER, other_id, "Finance Admin")
    stranger = await world.login(OTHER)
    _, other_csrf = await _page(stranger, "/t/other/finance")
    for path in pages:
        await _page(stranger, path, 404)
    for path in forms:
        assert (await _post(stranger, path, other_csrf, name="x", reason="x")).status_code == 404, path
    # their own finance pages do not show acme's company either
    await _page(stranger, f"/t/other/finance/{company_id}", 404)

    await world.person(MEMBER, tenant_id)
    member = await world.login(MEMBER)
    home, member_csrf = await _page(member, "/t/acme")
    assert f'href="{F}"' not in home
    for path in pages:
        await _page(member, path, 404)
    for path in forms:
        assert (await _post(member, path, member_csrf, name="x", reason="x")).status_code == 404, path

    # an auditor reads everything and changes nothing
    await world.person(AUDITOR, tenant_id, "Auditor")
    auditor = await world.login(AUDITOR)
    page, auditor_csrf = await _page(auditor, company_url)
    assert 'id="lock-form"' not in page and 'id="verify-chain"' in page
    entry, _ = await _page(auditor, entry_url)
    assert 'id="entry-actions"' not in entry and 'id="attach-form"' not in entry
    await _page(auditor, f"{company_url}/entries/new", 404)
    refused = await _post(
        auditor,
        f"{company_url}/entries",
        auditor_csrf,
        _lines((k["bank"], "1", ""), (k["equity"], "", "1")),
        journal="GEN",
        date="2026-03-02",
    )
    assert refused.status_code == 404 and await _count(world, Entry) == 1

    # without the CSRF token nothing is done
    no_token = await cfo.post(
        f"{F}/companies", data={"name": "x", "base_currency": "EUR"}, headers={"accept": "text/html"}
    )
    assert no_token.status_code == 403

    # a tenant whose plan leaves finance out: 403 naming the module, as the API answers
    await entitlements.set_value(world.rt.db, tenant_id, "module.finance", False, actor="test")
    off = await cfo.get(company_url, headers={"accept": "text/html"})
    assert off.status_code == 403 and "module.finance" in html.unescape(off.text)
    api = await cfo.get(f"/api/v1/tenants/acme/finance/companies/{company_id}")
    assert api.status_code == 403
