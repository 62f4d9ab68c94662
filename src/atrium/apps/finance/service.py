"""Rules of finance, first part: a company is set up with its base currency, fiscal year and a
chart of accounts from a template; accounts are added one by one. Every change is audited."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from atrium.apps.finance import charts
from atrium.apps.finance import repository as repo
from atrium.apps.finance.models import Account, Company
from atrium.apps.finance.schemas import AccountCreate, CompanyCreate
from atrium.core.audit import service as audit
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
    await audit.record(
        access.platform,
        action="finance.company.created",
        tenant_id=access.tenant.id,
        object_type="company",
        object_id=company.id,
        data={"name": company.name, "currency": company.base_currency, "chart": data.chart_template},
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
    await audit.record(
        access.platform,
        action="finance.account.created",
        tenant_id=access.tenant.id,
        object_type="account",
        object_id=account.id,
        data={"company_id": company.id, "code": account.code, "kind": account.kind},
    )
    return account
