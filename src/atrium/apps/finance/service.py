"""Rules of finance set-up: a company with its base currency, fiscal year, chart of accounts (from a
template or an upload) and default journals; accounts, journals, exchange rates and lock dates.
Posting itself lives in ``posting``. Every change is audited."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from atrium.apps.finance import charts, tabular, trail
from atrium.apps.finance import repository as repo
from atrium.apps.finance.models import Account, Attachment, Company, ExchangeRate, Journal
from atrium.apps.finance.schemas import AccountCreate, CompanyCreate, JournalCreate, LockDates
from atrium.core.errors import Conflict, NotFound, ValidationFailed
from atrium.platform.access.auth import Access


async def create_company(access: Access, data: CompanyCreate) -> Company:
    if await repo.company_named(access.session, data.name) is not None:
        raise Conflict(f"a company named {data.name!r} exists", field="name")
    template = None
    if data.chart_template is not None:
        if data.chart_template not in charts.TEMPLATES:
            known = ", ".join(sorted(charts.TEMPLATES))
            raise ValidationFailed(
                f"no chart template {data.chart_template!r}; choose one of {known}", field="chart_template"
            )
        template = charts.TEMPLATES[data.chart_template]
    company = Company(
        name=data.name.strip(),
        base_currency=data.base_currency,
        fiscal_year_start_month=data.fiscal_year_start_month,
        chart_template=data.chart_template,
    )
    access.session.add(company)
    await access.session.flush()
    if template is not None:
        await _load_chart(access.session, company, template)
    await _default_journals(access.session, company)
    await trail.record(
        access,
        "finance.company.created",
        "company",
        company.id,
        {"name": company.name, "currency": company.base_currency, "chart": data.chart_template},
    )
    return company


async def _load_chart(session: AsyncSession, company: Company, template: charts.ChartTemplate) -> None:
    """The template's accounts, parents first so each child can point at its parent's row."""
    ids: dict[str, str] = {}
    pending = list(template.accounts)
    while pending:
        ready = [a for a in pending if a.parent is None or a.parent in ids]
        assert ready, f"template {template.key} has a parent cycle"  # templates are validated by tests
        for entry in ready:
            account = _account(
                company.id, entry.code, entry.name, entry.kind, ids.get(entry.parent or ""), entry.tax_rate
            )
            account.reconcile = entry.reconcile
            session.add(account)
            await session.flush()
            ids[entry.code] = account.id
        pending = [a for a in pending if a.code not in ids]


def _account(
    company_id: str, code: str, name: str, kind: charts.AccountKind, parent_id: str | None, tax_rate: object
) -> Account:
    return Account(
        company_id=company_id,
        code=code,
        name=name,
        kind=str(kind),
        type=str(charts.KIND_TYPE[kind]),
        parent_id=parent_id,
        reconcile=kind in charts.RECONCILE_KINDS,
        tax_rate=tax_rate,
    )


DEFAULT_JOURNALS = (
    ("GEN", "General", "general"),
    ("SAL", "Sales", "sale"),
    ("PUR", "Purchases", "purchase"),
    ("BNK", "Bank", "bank"),
    ("FX", "Exchange differences", "fx"),
    ("CLS", "Year-end closing", "closing"),
)
JOURNAL_KINDS = frozenset(kind for _, _, kind in DEFAULT_JOURNALS) | {"cash"}


async def _default_journals(session: AsyncSession, company: Company) -> None:
    """Every company starts with one journal per kind of posting; the bank journal points at the
    first bank account of the chart, if it has one."""
    bank = await repo.first_account_of_kind(session, company.id, charts.AccountKind.bank.value)
    for code, name, kind in DEFAULT_JOURNALS:
        session.add(
            Journal(
                company_id=company.id,
                code=code,
                name=name,
                kind=kind,
                default_account_id=bank.id if bank is not None and kind == "bank" else None,
            )
        )
    await session.flush()


async def get_company(access: Access, company_id: str) -> Company:
    company = await repo.company(access.session, company_id)
    if company is None:
        raise NotFound(f"no company {company_id!r}", field="company_id")
    return company


async def create_account(access: Access, company_id: str, data: AccountCreate) -> Account:
    company = await get_company(access, company_id)
    try:
        kind = charts.AccountKind(data.kind)
    except ValueError:
        known = ", ".join(k.value for k in charts.AccountKind)
        raise ValidationFailed(f"unknown kind {data.kind!r}; choose one of {known}", field="kind") from None
    if await repo.account_by_code(access.session, company.id, data.code) is not None:
        raise Conflict(f"account {data.code} exists in {company.name}", field="code")
    parent_id = None
    if data.parent_code is not None:
        parent = await repo.account_by_code(access.session, company.id, data.parent_code)
        if parent is None:
            raise ValidationFailed(f"no account {data.parent_code} in {company.name}", field="parent_code")
        parent_id = parent.id
    if data.tax_rate is not None and kind not in charts.TAX_KINDS:
        raise ValidationFailed("only tax accounts carry a tax rate", field="tax_rate")
    account = _account(company.id, data.code, data.name, kind, parent_id, data.tax_rate)
    access.session.add(account)
    await access.session.flush()
    await trail.record(
        access,
        "finance.account.created",
        "account",
        account.id,
        {"company_id": company.id, "code": account.code, "kind": account.kind},
    )
    return account


async def import_chart(access: Access, company_id: str, rows: tabular.Rows) -> list[Account]:
    """Load an uploaded chart into a company that has no accounts yet: every bad row is reported
    and nothing is loaded until there is none."""
    company = await get_company(access, company_id)
    if await repo.accounts(access.session, company.id):
        raise Conflict(f"{company.name} already has a chart of accounts", field="file")
    accounts, errors = charts.validate(rows, numbers=rows.numbers)
    if errors:
        raise ValidationFailed(
            f"{len(errors)} problem(s) in the chart: "
            + "; ".join(f"row {e.row} {e.field}: {e.message}" for e in errors[:10]),
            field="file",
            errors=[{"row": e.row, "field": e.field, "detail": e.message} for e in errors],
        )
    template = charts.ChartTemplate(
        key="upload", name="Uploaded chart", country=None, currency=company.base_currency, accounts=tuple(accounts)
    )
    await _load_chart(access.session, company, template)
    bank = await repo.first_account_of_kind(access.session, company.id, charts.AccountKind.bank.value)
    for journal in await repo.journals(access.session, company.id):
        if journal.kind == "bank" and journal.default_account_id is None and bank is not None:
            journal.default_account_id = bank.id
    await trail.record(access, "finance.chart.imported", "company", company.id, {"accounts": len(accounts)})
    return list(await repo.accounts(access.session, company.id))


async def create_journal(access: Access, company_id: str, data: JournalCreate) -> Journal:
    company = await get_company(access, company_id)
    if data.kind not in JOURNAL_KINDS:
        raise ValidationFailed(
            f"unknown journal kind {data.kind!r}; choose one of {', '.join(sorted(JOURNAL_KINDS))}", field="kind"
        )
    if await repo.journal_by_code(access.session, company.id, data.code) is not None:
        raise Conflict(f"journal {data.code} exists in {company.name}", field="code")
    default_account_id = None
    if data.default_account is not None:
        account = await repo.account_by_code(access.session, company.id, data.default_account)
        if account is None:
            raise ValidationFailed(f"no account {data.default_account} in {company.name}", field="default_account")
        default_account_id = account.id
    journal = Journal(
        company_id=company.id, code=data.code, name=data.name, kind=data.kind, default_account_id=default_account_id
    )
    access.session.add(journal)
    await access.session.flush()
    await trail.record(
        access,
        "finance.journal.created",
        "journal",
        journal.id,
        {"company_id": company.id, "code": journal.code, "kind": journal.kind},
    )
    return journal


async def add_rates(access: Access, company_id: str, rates: list[tuple[str, dt.date, Decimal]], source: str) -> int:
    """Add or replace rates (currency, date, rate in company currency per unit); returns how many."""
    company = await get_company(access, company_id)
    for currency, _, rate in rates:
        if currency == company.base_currency:
            raise ValidationFailed(f"{currency} is {company.name}'s own currency; it needs no rate", field="currency")
        if rate <= 0:
            raise ValidationFailed(f"the {currency} rate must be positive", field="rate")
    existing = await repo.rates_on(access.session, company.id, [(c, d) for c, d, _ in rates])
    for currency, day, rate in rates:
        row = existing.get((currency, day))
        if row is None:
            access.session.add(
                ExchangeRate(company_id=company.id, currency=currency, date=day, rate=rate, source=source)
            )
        else:
            row.rate, row.source = rate, source
    await access.session.flush()
    await trail.record(
        access,
        "finance.rates.saved",
        "company",
        company.id,
        {"rates": len(rates), "source": source, "currencies": sorted({c for c, _, _ in rates})},
    )
    return len(rates)


async def set_lock_dates(access: Access, company_id: str, changes: LockDates) -> Company:
    """Move the lock dates. The hard lock only ever moves forward (what was closed for everyone
    stays closed) and cannot be removed; the soft lock never sits before it."""
    company = await get_company(access, company_id)
    before = {"soft": company.soft_lock_date, "hard": company.hard_lock_date}
    if "hard_lock_date" in changes.model_fields_set:
        hard = changes.hard_lock_date
        if hard is None:
            raise ValidationFailed("the hard lock date cannot be removed once set", field="hard_lock_date")
        if company.hard_lock_date is not None and hard < company.hard_lock_date:
            raise ValidationFailed(
                f"the hard lock date only moves forward; it is {company.hard_lock_date.isoformat()}",
                field="hard_lock_date",
            )
        company.hard_lock_date = hard
    if "soft_lock_date" in changes.model_fields_set:
        company.soft_lock_date = changes.soft_lock_date
    if (
        company.soft_lock_date is not None
        and company.hard_lock_date is not None
        and company.soft_lock_date < company.hard_lock_date
    ):
        company.soft_lock_date = company.hard_lock_date
    await access.session.flush()
    await trail.record(
        access,
        "finance.period.locked",
        "company",
        company.id,
        {
            "before": {k: v.isoformat() if v else None for k, v in before.items()},
            "soft_lock_date": company.soft_lock_date.isoformat() if company.soft_lock_date else None,
            "hard_lock_date": company.hard_lock_date.isoformat() if company.hard_lock_date else None,
        },
    )
    return company


ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024


async def attach(access: Access, entry_id: str, filename: str, media_type: str | None, content: bytes) -> Attachment:
    """Keep a file with an entry, posted or not: the file is evidence, not part of the lines."""
    entry = await repo.entry(access.session, entry_id)
    if entry is None:
        raise NotFound(f"no journal entry {entry_id!r}", field="entry_id")
    if not content:
        raise ValidationFailed("the file is empty", field="file")
    if len(content) > ATTACHMENT_MAX_BYTES:
        raise ValidationFailed(f"attachments are at most {ATTACHMENT_MAX_BYTES // 1024 // 1024} MB", field="file")
    attachment = Attachment(
        entry_id=entry.id,
        filename=filename[:255],
        media_type=(media_type or "application/octet-stream")[:100],
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
        created_by=access.principal.id,
    )
    access.session.add(attachment)
    await access.session.flush()
    await trail.record(
        access,
        "finance.entry.attached",
        "journal_entry",
        entry.id,
        {"attachment_id": attachment.id, "filename": attachment.filename, "sha256": attachment.sha256},
    )
    return attachment
