"""/api/v1/tenants/{tenant}/finance/…: companies and charts of accounts (first part)."""

from __future__ import annotations

from fastapi import APIRouter, status

from atrium.apps.finance import charts, service
from atrium.apps.finance import repository as repo
from atrium.apps.finance.auth import CanManageAccounts, CanReadAccounts
from atrium.apps.finance.schemas import AccountCreate, AccountRead, ChartTemplateRead, CompanyCreate, CompanyRead
from atrium.platform.entitlements.deps import require_module

router = APIRouter(
    prefix="/api/v1/tenants/{tenant}/finance", tags=["finance"], dependencies=[require_module("finance")]
)


@router.get("/chart-templates", response_model=list[ChartTemplateRead])
async def chart_templates(access: CanReadAccounts) -> list[ChartTemplateRead]:
    """The charts a company can start from."""
    return [
        ChartTemplateRead(key=t.key, name=t.name, country=t.country, currency=t.currency, accounts=len(t.accounts))
        for t in charts.TEMPLATES.values()
    ]


@router.get("/companies", response_model=list[CompanyRead])
async def list_companies(access: CanReadAccounts) -> list[CompanyRead]:
    return [CompanyRead.model_validate(c) for c in await repo.companies(access.session)]


@router.post("/companies", response_model=CompanyRead, status_code=status.HTTP_201_CREATED)
async def create_company(data: CompanyCreate, access: CanManageAccounts) -> CompanyRead:
    """A company with its base currency, fiscal year and, from a template, its chart of accounts."""
    return CompanyRead.model_validate(await service.create_company(access, data))


@router.get("/companies/{company_id}", response_model=CompanyRead)
async def get_company(company_id: str, access: CanReadAccounts) -> CompanyRead:
    return CompanyRead.model_validate(await service.get_company(access, company_id))


@router.get("/companies/{company_id}/accounts", response_model=list[AccountRead])
async def list_accounts(company_id: str, access: CanReadAccounts) -> list[AccountRead]:
    company = await service.get_company(access, company_id)
    return [AccountRead.model_validate(a) for a in await repo.accounts(access.session, company.id)]


@router.post("/companies/{company_id}/accounts", response_model=AccountRead, status_code=status.HTTP_201_CREATED)
async def create_account(company_id: str, data: AccountCreate, access: CanManageAccounts) -> AccountRead:
    return AccountRead.model_validate(await service.create_account(access, company_id, data))
