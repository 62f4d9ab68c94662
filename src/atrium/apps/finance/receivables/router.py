"""/api/v1/tenants/{tenant}/finance/…: parties, payment terms, invoices and bills, payments, and
the aged receivables and payables. Thin: the rules are in ``service`` and ``payments``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import Query, Response, status

from atrium.api.routing import APIRouter
from atrium.apps.finance import exports
from atrium.apps.finance import service as ledger
from atrium.apps.finance.auth import CanManageInvoices, CanReadInvoices
from atrium.apps.finance.receivables import payments, service
from atrium.apps.finance.receivables import repository as repo
from atrium.apps.finance.receivables.schemas import (
    AgedReport,
    DocumentCancel,
    DocumentCreate,
    DocumentDetail,
    DocumentRead,
    DocumentUpdate,
    InstallmentRead,
    PartyBalance,
    PartyCreate,
    PartyRead,
    PartyUpdate,
    PaymentAllocate,
    PaymentCreate,
    PaymentDetail,
    PaymentRead,
    PaymentReverse,
    PaymentUnallocate,
    Status,
    TermsCreate,
    TermsRead,
)
from atrium.apps.finance.receivables.terms import Terms
from atrium.apps.finance.schemas import FIRST_DAY, LAST_DAY
from atrium.platform.access.auth import Access
from atrium.platform.entitlements.deps import module_guard

router = APIRouter(prefix="/api/v1/tenants/{tenant}/finance", tags=["finance"], guards=[module_guard("finance")])

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]


# -- parties ----------------------------------------------------------------------------------


@router.get("/parties", response_model=list[PartyRead])
async def list_parties(
    company_id: str,
    access: CanReadInvoices,
    role: Literal["customer", "vendor"] | None = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[PartyRead]:
    company = await ledger.get_company(access, company_id)
    found = await repo.parties(access.session, company.id, role=role, search=search, limit=limit, offset=offset)
    return [PartyRead.model_validate(p) for p in found]


@router.post("/parties", response_model=PartyRead, status_code=status.HTTP_201_CREATED)
async def create_party(data: PartyCreate, access: CanManageInvoices) -> PartyRead:
    """A customer, a vendor or both; the name is unique within the company."""
    return PartyRead.model_validate(await service.create_party(access, data))


@router.get("/parties/{party_id}", response_model=PartyRead)
async def get_party(party_id: str, access: CanReadInvoices) -> PartyRead:
    return PartyRead.model_validate(await service.get_party(access, party_id))


@router.patch("/parties/{party_id}", response_model=PartyRead)
async def update_party(party_id: str, data: PartyUpdate, access: CanManageInvoices) -> PartyRead:
    return PartyRead.model_validate(await service.update_party(access, party_id, data))


@router.get("/parties/{party_id}/balance", response_model=PartyBalance)
async def party_balance(party_id: str, access: CanReadInvoices) -> PartyBalance:
    """What is open with the party today, from the ledger's open items."""
    return await service.party_balance(access, party_id)


# -- payment terms ----------------------------------------------------------------------------


def _terms_read(terms: Terms) -> TermsRead:
    return TermsRead(
        code=terms.code,
        name=terms.name,
        installments=[InstallmentRead(percent=i.percent, days=i.days) for i in terms.installments],
        discount_percent=terms.discount_percent,
        discount_days=terms.discount_days,
        built_in=terms.built_in,
    )


@router.get("/payment-terms", response_model=list[TermsRead])
async def list_terms(company_id: str, access: CanReadInvoices) -> list[TermsRead]:
    """The built-in terms and the company's own."""
    return [_terms_read(t) for t in await service.all_terms(access, company_id)]


@router.post("/payment-terms", response_model=TermsRead, status_code=status.HTTP_201_CREATED)
async def create_terms(data: TermsCreate, access: CanManageInvoices) -> TermsRead:
    """Installments adding up to 100 % and an optional early-payment discount."""
    return _terms_read(await service.create_terms(access, data))


# -- invoices and bills: the same routes for each side ----------------------------------------


def _document_routes(side: service.Side, path: str) -> None:
    async def list_documents(
        company_id: str,
        access: CanReadInvoices,
        party_id: str | None = None,
        status: Status | None = None,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> list[DocumentRead]:
        company = await ledger.get_company(access, company_id)
        found = await repo.documents(
            access.session,
            company.id,
            side.kinds,
            party_id=party_id,
            status=status,
            date_from=date_from,
            date_to=date_to,
            limit=limit,
            offset=offset,
        )
        return await service.document_reads(access, found)

    async def create_document(data: DocumentCreate, access: CanManageInvoices) -> DocumentDetail:
        return await service.document_detail(access, await service.create_document(access, side, data))

    async def get_document(document_id: str, access: CanReadInvoices) -> DocumentDetail:
        return await service.document_detail(access, await service.get_document(access, side, document_id))

    async def update_document(document_id: str, data: DocumentUpdate, access: CanManageInvoices) -> DocumentDetail:
        return await service.document_detail(access, await service.update_document(access, side, document_id, data))

    async def delete_document(document_id: str, access: CanManageInvoices) -> None:
        await service.delete_document(access, side, document_id)

    async def post_document(document_id: str, access: CanManageInvoices) -> DocumentDetail:
        return await service.document_detail(access, await service.post_document(access, side, document_id))

    async def cancel_document(document_id: str, data: DocumentCancel, access: CanManageInvoices) -> DocumentDetail:
        return await service.document_detail(access, await service.cancel_document(access, side, document_id, data))

    noun, kinds = side.noun, " or ".join(side.kinds)
    one = f"{path}/{{document_id}}"
    router.add_api_route(
        path, list_documents, methods=["GET"], response_model=list[DocumentRead], summary=f"List {noun}s",
        description=f"{kinds.capitalize()} documents, newest first; `status` filters on what is open.",
    )  # fmt: skip
    router.add_api_route(
        path, create_document, methods=["POST"], response_model=DocumentDetail, status_code=201,
        summary=f"Draft a {noun}", description=f"A draft {kinds} (`post: true` posts it at once).",
    )  # fmt: skip
    router.add_api_route(one, get_document, methods=["GET"], response_model=DocumentDetail, summary=f"Get a {noun}")
    router.add_api_route(
        one, update_document, methods=["PUT"], response_model=DocumentDetail, summary=f"Replace a draft {noun}"
    )
    router.add_api_route(
        one, delete_document, methods=["DELETE"], status_code=204, summary=f"Delete a draft {noun}",
        response_class=Response,
    )  # fmt: skip
    router.add_api_route(
        f"{one}/post", post_document, methods=["POST"], response_model=DocumentDetail, summary=f"Post a {noun}",
        description=f"Posts its entry in the {side.journal_code} journal; the entry's number becomes the {noun}'s.",
    )  # fmt: skip
    router.add_api_route(
        f"{one}/cancel", cancel_document, methods=["POST"], response_model=DocumentDetail, summary=f"Cancel a {noun}",
        description="A draft is marked cancelled; a posted document gets a credit note for its full amount.",
    )  # fmt: skip


_document_routes(service.SALES, "/invoices")
_document_routes(service.PURCHASES, "/bills")


# -- payments ---------------------------------------------------------------------------------


@router.get("/payments", response_model=list[PaymentRead])
async def list_payments(
    company_id: str,
    access: CanReadInvoices,
    party_id: str | None = None,
    direction: Literal["received", "sent"] | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[PaymentRead]:
    company = await ledger.get_company(access, company_id)
    found = await repo.payments(
        access.session, company.id, party_id=party_id, direction=direction, limit=limit, offset=offset
    )
    return await payments.payment_reads(access, found)


@router.post("/payments", response_model=PaymentDetail, status_code=status.HTTP_201_CREATED)
async def create_payment(data: PaymentCreate, access: CanManageInvoices) -> PaymentDetail:
    """Post a payment and settle the documents it pays (named, or the party's oldest due first);
    what is left stays open as the party's credit."""
    return await payments.payment_detail(access, await payments.create_payment(access, data))


@router.get("/payments/{payment_id}", response_model=PaymentDetail)
async def get_payment(payment_id: str, access: CanReadInvoices) -> PaymentDetail:
    return await payments.payment_detail(access, await payments.get_payment(access, payment_id))


@router.post("/payments/{payment_id}/allocate", response_model=PaymentDetail)
async def allocate(payment_id: str, data: PaymentAllocate, access: CanManageInvoices) -> PaymentDetail:
    """Apply what is still open of the payment to documents."""
    return await payments.payment_detail(access, await payments.allocate(access, payment_id, data))


@router.post("/payments/{payment_id}/unallocate", response_model=PaymentDetail)
async def unallocate(payment_id: str, data: PaymentUnallocate, access: CanManageInvoices) -> PaymentDetail:
    """Undo the payment's settlements; the documents reopen."""
    return await payments.payment_detail(access, await payments.unallocate(access, payment_id, data))


@router.post("/payments/{payment_id}/reverse", response_model=PaymentDetail)
async def reverse_payment(payment_id: str, data: PaymentReverse, access: CanManageInvoices) -> PaymentDetail:
    """Unallocate everything and post the payment's mirror image."""
    return await payments.payment_detail(access, await payments.reverse_payment(access, payment_id, data))


# -- aged receivables and payables ------------------------------------------------------------


async def _aged(
    access: Access, company_id: str, kind: str, as_of: dt.date | None, fmt: str | None
) -> AgedReport | Response:
    report = await service.aged(access, company_id, kind, as_of or dt.datetime.now(dt.UTC).date())
    if fmt is None:
        return report
    company = await ledger.get_company(access, company_id)
    body, media_type, filename = exports.export(service.aged_table(report, company.name), fmt)
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


ExportFormat = Annotated[Literal["csv", "xlsx", "pdf"] | None, Query(alias="format")]


@router.get("/reports/aged-receivables", response_model=AgedReport)
async def aged_receivables(
    company_id: str,
    access: CanReadInvoices,
    as_of: Annotated[dt.date | None, Query(ge=FIRST_DAY, le=LAST_DAY)] = None,
    fmt: ExportFormat = None,
) -> AgedReport | Response:
    """What customers owed at the end of ``as_of`` (default today) by days past due: current,
    1–30, 31–60, 61–90, over 90. ``format=csv|xlsx|pdf`` downloads it."""
    return await _aged(access, company_id, "receivables", as_of, fmt)


@router.get("/reports/aged-payables", response_model=AgedReport)
async def aged_payables(
    company_id: str,
    access: CanReadInvoices,
    as_of: Annotated[dt.date | None, Query(ge=FIRST_DAY, le=LAST_DAY)] = None,
    fmt: ExportFormat = None,
) -> AgedReport | Response:
    """What was owed to vendors at the end of ``as_of`` (default today), bucketed like receivables."""
    return await _aged(access, company_id, "payables", as_of, fmt)
