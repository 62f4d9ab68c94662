"""Finance's permissions (declared in the access catalogue) and the aliases its routes declare."""

from __future__ import annotations

from typing import Annotated

from fastapi import Security

from atrium.platform.access.auth import Access, authorize, permission

ACCOUNTS_READ, ACCOUNTS_MANAGE = "finance.account.read", "finance.account.manage"

CanReadAccounts = Annotated[Access, Security(authorize, scopes=permission(ACCOUNTS_READ))]
CanManageAccounts = Annotated[Access, Security(authorize, scopes=permission(ACCOUNTS_MANAGE))]
