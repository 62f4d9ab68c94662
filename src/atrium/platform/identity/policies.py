"""Tenant security policies: session lifetimes, the password rule, forced MFA, IP allowlists and
trusted devices.

Sign-in is platform-wide but people belong to several tenants, so the rules meet in two places.
What shapes the account (password, session lifetimes, trusted devices) takes the strictest value
across the person's tenants, decided when the password is set or the session begins. What guards
a tenant (its IP allowlist, forced MFA) is checked on every request that enters that tenant,
from a per-process cache refreshed every few seconds. Platform administrators are exempt from a
tenant's allowlist and MFA rule: they operate the platform from wherever the platform is run.
The password rule follows NIST SP 800-63B and ASVS: a minimum length, a list of common and
breached passwords, no composition rules and no forced rotation.
"""

from __future__ import annotations

import functools
import ipaddress
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select

from atrium.core.errors import BadRequest, Forbidden
from atrium.platform.identity import events
from atrium.platform.identity.models import Membership
from atrium.platform.identity.security_models import TenantSecurityPolicy

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.ext.asyncio import AsyncSession

    from atrium.core.settings import Settings
    from atrium.runtime import Runtime

PLATFORM_MIN_LENGTH = 12
MAX_LENGTH = 1024
_CACHE_SECONDS = 5.0


class PolicyUpdate(BaseModel):
    """What a Tenant Admin may set; omitted fields keep their value."""

    model_config = ConfigDict(extra="forbid")

    session_idle_minutes: int | None = Field(None, ge=5, le=24 * 60, description="End sessions unused this long.")
    session_absolute_hours: int | None = Field(
        None, ge=1, le=30 * 24, description="End sessions this long after sign-in."
    )
    password_min_length: int = Field(PLATFORM_MIN_LENGTH, ge=PLATFORM_MIN_LENGTH, le=128)
    password_block_common: bool = Field(True, description="Refuse common and breached passwords.")
    mfa_required: bool = Field(False, description="Members must sign in with a second factor to enter the tenant.")
    ip_allowlist: list[str] = Field(default_factory=list, max_length=100, description="CIDR blocks; empty allows all.")
    trusted_device_days: int = Field(0, ge=0, le=90, description="Days a browser may skip the second factor; 0: never.")

    @field_validator("ip_allowlist")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        out = []
        for item in value:
            try:
                out.append(str(ipaddress.ip_network(item.strip(), strict=False)))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR block") from None
        return out


@dataclass(frozen=True)
class AccountRules:
    """The strictest account-shaping rules across a person's tenants (and the platform's)."""

    idle_minutes: int
    absolute_hours: int
    password_min_length: int
    password_block_common: bool
    trusted_device_days: int


@dataclass(frozen=True)
class TenantGuard:
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    mfa_required: bool

    def allows_ip(self, ip: str | None) -> bool:
        if not self.networks:
            return True
        try:
            address = ipaddress.ip_address(ip or "")
        except ValueError:
            return False
        return any(address in net for net in self.networks)


def defaults(tenant_id: str) -> TenantSecurityPolicy:
    return TenantSecurityPolicy(
        tenant_id=tenant_id,
        session_idle_minutes=None,
        session_absolute_hours=None,
        password_min_length=PLATFORM_MIN_LENGTH,
        password_block_common=True,
        mfa_required=False,
        ip_allowlist=[],
        trusted_device_days=0,
    )


async def get(session: AsyncSession, tenant_id: str) -> TenantSecurityPolicy:
    """The tenant's policy (the defaults when it never set one)."""
    return await session.get(TenantSecurityPolicy, tenant_id) or defaults(tenant_id)


async def update(
    session: AsyncSession, tenant_id: str, data: PolicyUpdate, *, actor: str, caller_ip: str | None = None
) -> TenantSecurityPolicy:
    """Change the given fields. With ``caller_ip`` (a Tenant Admin's request), an allowlist that
    would shut that very address out is refused: only a platform admin could undo it."""
    if caller_ip is not None and data.ip_allowlist:
        guard = TenantGuard(tuple(ipaddress.ip_network(c, strict=False) for c in data.ip_allowlist), False)
        if not guard.allows_ip(caller_ip):
            raise BadRequest(
                f"the allowlist would lock you out: your address {caller_ip} is not in it", field="ip_allowlist"
            )
    policy = await session.get(TenantSecurityPolicy, tenant_id)
    if policy is None:
        policy = defaults(tenant_id)
        session.add(policy)
    before = _as_dict(policy)
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(policy, name, value)
    policy.updated_by = actor
    await session.flush()
    after = _as_dict(policy)
    changed = {k: after[k] for k in after if after[k] != before[k]}
    await events.record(
        session,
        "tenant.security_policy.updated",
        user_id=None,
        tenant_id=tenant_id,
        object_type="tenant",
        object_id=tenant_id,
        data={"changed": changed},
        actor=actor,
    )
    _guards.pop(tenant_id, None)
    return policy


def _as_dict(policy: TenantSecurityPolicy) -> dict[str, object]:
    return {name: getattr(policy, name) for name in PolicyUpdate.model_fields}


async def _policies_of(session: AsyncSession, tenant_ids: Iterable[str]) -> list[TenantSecurityPolicy]:
    ids = list(tenant_ids)
    if not ids:
        return []
    found = {
        p.tenant_id: p
        for p in (
            await session.execute(select(TenantSecurityPolicy).where(TenantSecurityPolicy.tenant_id.in_(ids)))
        ).scalars()
    }
    return [found.get(i) or defaults(i) for i in ids]


async def account_rules(session: AsyncSession, settings: Settings, user_id: str) -> AccountRules:
    tenant_ids = (await session.execute(select(Membership.tenant_id).where(Membership.user_id == user_id))).scalars()
    return _combine(settings, await _policies_of(session, tenant_ids))


def _combine(settings: Settings, found: list[TenantSecurityPolicy]) -> AccountRules:
    idle = [settings.session_idle_minutes] + [p.session_idle_minutes for p in found if p.session_idle_minutes]
    absolute = [settings.session_absolute_hours] + [p.session_absolute_hours for p in found if p.session_absolute_hours]
    return AccountRules(
        idle_minutes=min(idle),
        absolute_hours=min(absolute),
        password_min_length=max([PLATFORM_MIN_LENGTH] + [p.password_min_length for p in found]),
        password_block_common=True if not found else any(p.password_block_common for p in found),
        trusted_device_days=min([p.trusted_device_days for p in found], default=settings.trusted_device_days),
    )


@functools.cache
def _common_passwords() -> frozenset[str]:
    """30,000 most common passwords of public breach corpora (shipped with zxcvbn; nothing is fetched)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-untyped]

    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problem(password: str, *, min_length: int, block_common: bool, email: str | None = None) -> str | None:
    """Why the password is refused, or None. Length counts characters; nothing is truncated."""
    if len(password) < min_length:
        return f"the password needs {min_length} characters or more"
    if len(password) > MAX_LENGTH:
        return f"the password may have at most {MAX_LENGTH} characters"
    lowered = password.lower()
    if block_common and (lowered in _common_passwords() or len(set(lowered)) < 4):
        return "this password is too common (it appears in breach lists); choose another"
    if email and lowered in (email.lower(), email.lower().partition("@")[0]):
        return "the password must not be your email address"
    return None


async def check_new_password(
    session: AsyncSession,
    password: str,
    *,
    settings: Settings | None = None,
    user_id: str | None = None,
    tenant_ids: Iterable[str] = (),
    email: str | None = None,
) -> None:
    """Refuse a password the rules of the person's tenants (or the given ones) would not allow."""
    found = await _policies_of(session, tenant_ids)
    if user_id is not None:
        ids = (await session.execute(select(Membership.tenant_id).where(Membership.user_id == user_id))).scalars()
        found += await _policies_of(session, ids)
    min_length = max([PLATFORM_MIN_LENGTH] + [p.password_min_length for p in found])
    block = True if not found else any(p.password_block_common for p in found)
    problem = password_problem(password, min_length=min_length, block_common=block, email=email)
    if problem:
        raise BadRequest(problem, field="password")


# tenant id → (monotonic deadline, guard): one query per tenant every few seconds at most.
_guards: dict[str, tuple[float, TenantGuard]] = {}


async def guard(rt: Runtime, tenant_id: str) -> TenantGuard:
    hit = _guards.get(tenant_id)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit[1]
    async with rt.db.platform_session() as session:
        policy = await get(session, tenant_id)
    found = TenantGuard(tuple(ipaddress.ip_network(c, strict=False) for c in policy.ip_allowlist), policy.mfa_required)
    if len(_guards) > 10_000:
        _guards.clear()
    _guards[tenant_id] = (now + _CACHE_SECONDS, found)
    return found


class IpNotAllowed(Forbidden):
    code = "ip-not-allowed"
    title = "Address not allowed"


class MfaRequired(Forbidden):
    code = "mfa-required"
    title = "Second factor required"


async def enforce(rt: Runtime, tenant_id: str, *, ip: str | None, mfa: bool, interactive: bool) -> None:
    """Refuse entry to the tenant from outside its allowlist, or (for a browser session) without a
    second factor when the tenant requires one."""
    rules = await guard(rt, tenant_id)
    if not rules.allows_ip(ip):
        raise IpNotAllowed(f"the tenant does not allow access from {ip}")
    if interactive and rules.mfa_required and not mfa:
        raise MfaRequired(
            "this tenant requires a second factor: enrol one under Account → Security, then sign in again"
        )
