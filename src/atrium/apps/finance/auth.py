"""Finance's permissions (declared in the access catalogue) and the aliases its routes declare."""

from __future__ import annotations

from typing import Annotated

from fastapi import Security

from atrium.platform.access.auth import Access, authorize, permission

ACCOUNTS_READ, ACCOUNTS_MANAGE = "finance.account.read", "finance.account.manage"
JOURNAL_READ, JOURNAL_POST = "finance.journal.read", "finance.journal.post"
INVOICE_READ, INVOICE_MANAGE = "finance.invoice.read", "finance.invoice.manage"
BANK_READ, BANK_RECONCILE = "finance.bank.read", "finance.bank.reconcile"
PERIOD_LOCK = "finance.period.lock"
REPORT_READ = "finance.report.read"

CanReadAccounts = Annotated[Access, Security(authorize, scopes=permission(ACCOUNTS_READ))]
CanManageAccounts = Annotated[Access, Security(authorize, scopes=permission(ACCOUNTS_MANAGE))]
CanReadJournal = Annotated[Access, Security(authorize, scopes=permission(JOURNAL_READ))]
CanPost = Annotated[Access, Security(authorize, scopes=permission(JOURNAL_POST))]
CanReadInvoices = Annotated[Access, Security(authorize, scopes=permission(INVOICE_READ))]
CanManageInvoices = Annotated[Access, Security(authorize, scopes=permission(INVOICE_MANAGE))]
CanReadBank = Annotated[Access, Security(authorize, scopes=permission(BANK_READ))]
CanReconcile = Annotated[Access, Security(authorize, scopes=permission(BANK_RECONCILE))]
CanLockPeriods = Annotated[Access, Security(authorize, scopes=permission(PERIOD_LOCK))]
CanReadReports = Annotated[Access, Security(authorize, scopes=permission(REPORT_READ))]
