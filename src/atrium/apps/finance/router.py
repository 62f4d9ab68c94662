"""/api/v1/tenants/{tenant}/finance/…: companies, charts, journals and entries, exchange rates,
lock dates and the chain check. Thin: the rules are in ``service`` and ``posting``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import Query, Response, UploadFile, status

from atrium.api.routing import APIRouter
from atrium.apps.finance import charts, fx, integrity, intercompany, posting, service, tabular
from atrium.apps.finance import repository as repo
from atrium.apps.finance.auth import CanLockPeriods, CanManageAccounts, CanPost, CanReadAccounts, CanReadJournal
from atrium.apps.finance.models import Entry
from atrium.apps.finance.schemas import (
    AccountCreate,
    AccountRead,
    AttachmentRead,
    ChartTemplateRead,
    CompanyCreate,
    CompanyDetail,
    CompanyRead,
    EntryCreate,
    EntryDetail,
    EntryRead,
    EntryReverse,
    IntercompanyCreate,
    JournalCreate,
    JournalRead,
    LineRead,
    LockDates,
    RateCreate,
    RateRead,
    Revaluation,
    VerificationRead,
)
from atrium.core.errors import NotFound, ValidationFailed
from atrium.platform.access.auth import Access
from atrium.platform.entitlements.deps import module_guard

router = APIRouter(prefix="/api/v1/tenants/{tenant}/finance", tags=["finance"], guards=[module_guard("finance")])


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


@router.get("/companies/{company_id}", response_model=CompanyDetail)
async def get_company(company_id: str, access: CanReadAccounts) -> CompanyDetail:
    return CompanyDetail.model_validate(await service.get_company(access, company_id))


@router.get("/companies/{company_id}/accounts", response_model=list[AccountRead])
async def list_accounts(company_id: str, access: CanReadAccounts) -> list[AccountRead]:
    company = await service.get_company(access, company_id)
    return [AccountRead.model_validate(a) for a in await repo.accounts(access.session, company.id)]


@router.post("/companies/{company_id}/accounts", response_model=AccountRead, status_code=status.HTTP_201_CREATED)
async def create_account(company_id: str, data: AccountCreate, access: CanManageAccounts) -> AccountRead:
    return AccountRead.model_validate(await service.create_account(access, company_id, data))


@router.post("/companies/{company_id}/chart", response_model=list[AccountRead], status_code=status.HTTP_201_CREATED)
async def import_chart(company_id: str, access: CanManageAccounts, file: UploadFile) -> list[AccountRead]:
    """Load a chart of accounts from CSV or XLSX (columns code, name, kind, parent, reconcile,
    tax_rate) into a company without accounts; every bad row is reported, nothing half loaded."""
    rows = tabular.chart_rows(await file.read(), file.filename)
    return [AccountRead.model_validate(a) for a in await service.import_chart(access, company_id, rows)]


@router.put("/companies/{company_id}/lock-dates", response_model=CompanyDetail)
async def set_lock_dates(company_id: str, data: LockDates, access: CanLockPeriods) -> CompanyDetail:
    """Soft lock: only people who may lock periods post on or before it. Hard lock: nobody does,
    and it only moves forward."""
    return CompanyDetail.model_validate(await service.set_lock_dates(access, company_id, data))


@router.get("/companies/{company_id}/verification", response_model=VerificationRead)
async def verify_chain(company_id: str, access: CanReadJournal) -> VerificationRead:
    """Recompute the company's inalterability chain; names the first entry that does not check out."""
    company = await service.get_company(access, company_id)
    result = await integrity.verify(access.session, company.id)
    return VerificationRead(**result.__dict__)


@router.get("/accounts", response_model=list[AccountRead])
async def accounts(company_id: str, access: CanReadAccounts) -> list[AccountRead]:
    company = await service.get_company(access, company_id)
    return [AccountRead.model_validate(a) for a in await repo.accounts(access.session, company.id)]


@router.get("/journals", response_model=list[JournalRead])
async def journals(company_id: str, access: CanReadJournal) -> list[JournalRead]:
    company = await service.get_company(access, company_id)
    return [JournalRead.model_validate(j) for j in await repo.journals(access.session, company.id)]


@router.post("/journals", response_model=JournalRead, status_code=status.HTTP_201_CREATED)
async def create_journal(company_id: str, data: JournalCreate, access: CanManageAccounts) -> JournalRead:
    return JournalRead.model_validate(await service.create_journal(access, company_id, data))


@router.get("/journal-entries", response_model=list[EntryRead])
async def list_entries(
    company_id: str,
    access: CanReadJournal,
    journal_id: str | None = None,
    state: Literal["draft", "posted", "reversed"] | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    account_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[EntryRead]:
    company = await service.get_company(access, company_id)
    found = await repo.entries(
        access.session,
        company.id,
        journal_id=journal_id,
        state=state,
        date_from=date_from,
        date_to=date_to,
        account_id=account_id,
        limit=limit,
        offset=offset,
    )
    return [EntryRead.model_validate(e) for e in found]


@router.post("/journal-entries", response_model=EntryDetail, status_code=status.HTTP_201_CREATED)
async def create_entry(data: EntryCreate, access: CanPost) -> EntryDetail:
    """Post a balanced entry (or keep it as a draft with ``post: false``). Unbalanced entries,
    unknown accounts, locked periods and missing rates are refused naming the line."""
    company = await service.get_company(access, data.company_id)
    proposal = posting.EntryIn(
        company_id=company.id,
        journal=data.journal,
        date=data.date,
        lines=[posting.LineIn(**line.model_dump()) for line in data.lines],
        reference=data.reference,
        memo=data.memo,
    )
    entry = await (posting.post(access, proposal) if data.post else posting.save_draft(access, proposal))
    return await _described(access, entry, attachments=False)  # a new entry has none yet


@router.post("/journal-entries/intercompany", response_model=list[EntryDetail], status_code=status.HTTP_201_CREATED)
async def create_intercompany(data: IntercompanyCreate, access: CanPost) -> list[EntryDetail]:
    """One transaction between two companies of the tenant, booked in both ledgers at once (the
    sender's receivable and the receiver's payable name each other); reversing one reverses both."""
    pair = await intercompany.post_pair(
        access,
        sender=intercompany.Side(data.sender_company_id, data.sender_account),
        receiver=intercompany.Side(data.receiver_company_id, data.receiver_account),
        day=data.date,
        amount=data.amount,
        currency=data.currency,
        memo=data.memo,
    )
    return [await _detail(access, pair.sender.id), await _detail(access, pair.receiver.id)]


@router.get("/journal-entries/{entry_id}", response_model=EntryDetail)
async def get_entry(entry_id: str, access: CanReadJournal) -> EntryDetail:
    return await _detail(access, entry_id)


@router.post("/journal-entries/{entry_id}/post", response_model=EntryDetail)
async def post_draft(entry_id: str, access: CanPost) -> EntryDetail:
    await posting.post_draft(access, entry_id)
    return await _detail(access, entry_id)


@router.post("/journal-entries/{entry_id}/reverse", response_model=EntryDetail, status_code=status.HTTP_201_CREATED)
async def reverse_entry(entry_id: str, data: EntryReverse, access: CanPost) -> EntryDetail:
    """Posted entries are never edited: a reversing entry mirrors this one, on its date or ``date``."""
    entry = await repo.entry(access.session, entry_id)
    if entry is not None and entry.source == intercompany.SOURCE:
        reversal = (await intercompany.reverse_pair(access, entry_id, day=data.date, reason=data.reason))[0]
    else:
        reversal = await posting.reverse(access, entry_id, day=data.date, reason=data.reason)
    return await _detail(access, reversal.id)


@router.delete("/journal-entries/{entry_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_draft(entry_id: str, access: CanPost) -> None:
    """Only drafts can be deleted."""
    await posting.delete_draft(access, entry_id)


@router.post(
    "/journal-entries/{entry_id}/attachments", response_model=AttachmentRead, status_code=status.HTTP_201_CREATED
)
async def attach(entry_id: str, access: CanPost, file: UploadFile) -> AttachmentRead:
    content = await file.read()
    return AttachmentRead.model_validate(
        await service.attach(access, entry_id, file.filename or "attachment", file.content_type, content)
    )


@router.get("/journal-entries/{entry_id}/attachments/{attachment_id}")
async def download_attachment(entry_id: str, attachment_id: str, access: CanReadJournal) -> Response:
    found = await repo.attachment(access.session, attachment_id)
    if found is None or found.entry_id != entry_id:
        raise NotFound(f"no attachment {attachment_id!r}", field="attachment_id")
    disposition = f"attachment; filename*=UTF-8''{quote(found.filename)}"
    return Response(found.content, media_type=found.media_type, headers={"Content-Disposition": disposition})


async def _detail(access: Access, entry_id: str) -> EntryDetail:
    entry = await repo.entry(access.session, entry_id)
    if entry is None:
        raise NotFound(f"no journal entry {entry_id!r}", field="entry_id")
    return await _described(access, entry)


async def _described(access: Access, entry: Entry, *, attachments: bool = True) -> EntryDetail:
    detail = EntryDetail.model_validate(entry)
    detail.lines = [LineRead.model_validate(line) for line in await posting.lines_of(access.session, entry.id)]
    detail.draft_lines = entry.draft_lines
    if attachments:
        found = await repo.attachments(access.session, entry.id)
        detail.attachments = [AttachmentRead.model_validate(a) for a in found]
    return detail


@router.get("/exchange-rates", response_model=list[RateRead])
async def exchange_rates(company_id: str, access: CanReadAccounts, currency: str | None = None) -> list[RateRead]:
    company = await service.get_company(access, company_id)
    return [RateRead.model_validate(r) for r in await repo.rates(access.session, company.id, currency)]


@router.post("/exchange-rates", response_model=list[RateRead], status_code=status.HTTP_201_CREATED)
async def add_rates(company_id: str, data: list[RateCreate], access: CanManageAccounts) -> list[RateRead]:
    """Add or replace rates: units of the company's currency per one unit of ``currency``."""
    if not data:
        raise ValidationFailed("send at least one rate", field="body")
    await service.add_rates(access, company_id, [(r.currency, r.date, r.rate) for r in data], "manual")
    return [RateRead(currency=r.currency, date=r.date, rate=r.rate, source="manual") for r in data]


@router.post("/exchange-rates/import", status_code=status.HTTP_201_CREATED)
async def import_rates(company_id: str, access: CanManageAccounts, file: UploadFile) -> dict[str, int]:
    """A CSV or XLSX of currency, date, rate; every bad row is reported and nothing is saved."""
    rows = tabular.rate_rows(await file.read(), file.filename)
    saved = await service.add_rates(access, company_id, [(r.currency, r.date, r.rate) for r in rows], "import")
    return {"saved": saved}


@router.post("/exchange-rates/revaluation", response_model=EntryDetail | None)
async def revalue(data: Revaluation, access: CanPost, response: Response) -> EntryDetail | None:
    """Value open foreign-currency balances at the rate of ``as_of``; the adjustment is reversed the
    next day. Answers 204 when nothing moved."""
    entry = await fx.revalue(access, data.company_id, data.as_of)
    if entry is None:
        response.status_code = status.HTTP_204_NO_CONTENT
        return None
    response.status_code = status.HTTP_201_CREATED
    return await _detail(access, entry.id)
