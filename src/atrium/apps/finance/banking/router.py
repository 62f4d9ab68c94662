"""/api/v1/tenants/{tenant}/finance/… bank accounts, bank statements and reconciliations."""

from __future__ import annotations

from typing import Any

from fastapi import Form, UploadFile, status
from sqlalchemy import select

from atrium.api.routing import APIRouter
from atrium.apps.finance import reconcile
from atrium.apps.finance import service as finance
from atrium.apps.finance.auth import CanReadBank, CanReconcile
from atrium.apps.finance.banking import matching, service
from atrium.apps.finance.banking.models import BankAccount, BankMatch, Statement
from atrium.apps.finance.banking.schemas import (
    BankAccountCreate,
    BankAccountRead,
    ReasonRead,
    ReconciliationCreate,
    ReconciliationRead,
    StatementDetail,
    StatementLineRead,
    StatementRead,
    SuggestionRead,
)
from atrium.core.errors import ValidationFailed
from atrium.platform.entitlements.deps import module_guard

router = APIRouter(prefix="/api/v1/tenants/{tenant}/finance", tags=["finance: bank"], guards=[module_guard("finance")])


def _suggestion(s: matching.Suggestion) -> SuggestionRead:
    return SuggestionRead(
        line_ids=list(s.item_ids), score=s.score, reasons=[ReasonRead(**r.__dict__) for r in s.reasons]
    )


@router.get("/bank-accounts", response_model=list[BankAccountRead])
async def bank_accounts(company_id: str, access: CanReadBank) -> list[BankAccountRead]:
    await finance.get_company(access, company_id)
    rows = await access.session.scalars(
        select(BankAccount).where(BankAccount.company_id == company_id).order_by(BankAccount.name)
    )
    return [BankAccountRead.model_validate(b) for b in rows]


@router.post("/bank-accounts", response_model=BankAccountRead, status_code=status.HTTP_201_CREATED)
async def create_bank_account(data: BankAccountCreate, access: CanReconcile) -> BankAccountRead:
    made = await service.create_bank_account(
        access,
        data.company_id,
        name=data.name,
        iban=data.iban,
        currency=data.currency,
        account=data.account,
        journal=data.journal,
    )
    return BankAccountRead.model_validate(made)


@router.put("/bank-accounts/{bank_account_id}/csv-mapping", response_model=BankAccountRead)
async def save_csv_mapping(bank_account_id: str, mapping: dict[str, Any], access: CanReconcile) -> BankAccountRead:
    """The columns of this bank's CSV export: date_column, amount_column (or debit/credit columns),
    text_columns, counterparty_column, iban_column, date_format, decimal_separator …"""
    return BankAccountRead.model_validate(await service.save_csv_mapping(access, bank_account_id, mapping))


@router.post("/bank-statements", response_model=StatementDetail, status_code=status.HTTP_201_CREATED)
async def import_statement(
    access: CanReconcile,
    file: UploadFile,
    company_id: str = Form(),
    bank_account_id: str | None = Form(None),
    format: str | None = Form(None, description="camt053, mt940, ofx or csv; detected when omitted."),
) -> StatementDetail:
    """Import a statement; lines seen before are skipped (``duplicates``). Malformed files are
    refused naming the line, and nothing is imported."""
    imported = await service.import_statement(
        access, company_id, await file.read(), filename=file.filename, fmt=format, bank_account_id=bank_account_id
    )
    return await _statement(access, imported.statement.id)


@router.get("/bank-statements", response_model=list[StatementRead])
async def statements(company_id: str, access: CanReadBank) -> list[StatementRead]:
    await finance.get_company(access, company_id)
    rows = await access.session.scalars(
        select(Statement).where(Statement.company_id == company_id).order_by(Statement.created_at.desc())
    )
    return [StatementRead.model_validate(s) for s in rows]


@router.get("/bank-statements/{statement_id}", response_model=StatementDetail)
async def statement(statement_id: str, access: CanReadBank) -> StatementDetail:
    """The statement's lines, each open one with its ranked matching suggestions and their reasons."""
    return await _statement(access, statement_id)


async def _statement(access: Any, statement_id: str) -> StatementDetail:
    found, lines = await service.statement_lines(access, statement_id)
    ranked = await service.suggestions(access, lines)
    detail = StatementDetail.model_validate(found)
    detail.lines = []
    for line in lines:
        read = StatementLineRead.model_validate(line)
        read.suggestions = [_suggestion(s) for s in ranked.get(line.id, [])]
        detail.lines.append(read)
    return detail


@router.post("/reconciliations", response_model=ReconciliationRead, status_code=status.HTTP_201_CREATED)
async def create_reconciliation(data: ReconciliationCreate, access: CanReconcile) -> ReconciliationRead:
    """Reconcile a statement line with open items and/or accounts (they must add up to the line),
    or settle ledger lines of one account against each other (``line_ids``)."""
    if (data.bank_line_id is None) == (not data.line_ids):
        raise ValidationFailed("send either bank_line_id with counterparts, or line_ids", field="bank_line_id")
    if data.bank_line_id is not None:
        parts = [service.Counterpart(**c.model_dump()) for c in data.counterparts]
        line = await service.reconcile_line(access, data.bank_line_id, parts)
        count = len(
            (
                await access.session.scalars(
                    select(BankMatch.id).where(BankMatch.reconciliation_id == line.reconciliation_id)
                )
            ).all()
        )
        return ReconciliationRead(
            id=line.reconciliation_id or "", bank_line_id=line.id, entry_id=line.entry_id, matches=count
        )
    done = await reconcile.reconcile(access, data.line_ids)
    return ReconciliationRead(
        id=done.id,
        entry_id=done.exchange_entry.id if done.exchange_entry else None,
        matches=len(done.matches),
    )


@router.delete("/reconciliations/{reconciliation_id}", status_code=status.HTTP_204_NO_CONTENT)
async def undo_reconciliation(reconciliation_id: str, access: CanReconcile) -> None:
    """Undo a reconciliation: a statement line's (its entry is reversed) or one between ledger lines."""
    await service.undo_reconciliation(access, reconciliation_id)
