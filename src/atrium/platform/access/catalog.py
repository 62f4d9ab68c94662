"""The permission catalogue, the system permission sets and the system roles.

Permissions are data: ``module.resource.action`` names that modules declare here (through their
``auth.py``) and that permission sets and roles refer to. A permission set is a named bundle of
permissions or patterns (``finance.*``, ``*.*.read``); a role is a set of permission sets, with an
optional row condition and a sign-in policy. System sets and roles live in code so that a module
that adds permissions extends them everywhere at once; a tenant's custom roles live in its rows.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field

NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
PATTERN = re.compile(r"^(\*|[a-z][a-z0-9_]*)(\.(\*|[a-z][a-z0-9_]*)){0,2}$")


@dataclass(frozen=True)
class Permission:
    name: str
    description: str
    privileged: bool = False  # blocked while impersonating; may need step-up or approval

    @property
    def module(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def resource(self) -> str:
        return self.name.rsplit(".", 1)[0]


@dataclass(frozen=True)
class PermissionSet:
    key: str
    name: str
    description: str
    patterns: tuple[str, ...]

    def expand(self) -> frozenset[str]:
        return expand(self.patterns)


@dataclass(frozen=True)
class SystemRole:
    name: str
    description: str
    permission_sets: tuple[str, ...]
    step_up: bool = False
    platform_wide: bool = False
    policy: dict[str, object] = field(default_factory=dict)


PERMISSIONS: dict[str, Permission] = {}

# The modules whose auth.py declares permissions; imported before the first decision, so a job or
# a CLI command that never imported a module's routes still knows its permissions.
MODULE_AUTH = ("atrium.apps.notes.auth",)
_loaded = False


def load_modules() -> None:
    global _loaded
    if not _loaded:
        for name in MODULE_AUTH:
            importlib.import_module(name)
        _loaded = True


def declare(*permissions: Permission) -> None:
    """A module declares the permissions its routes and services check (from its ``auth.py``)."""
    for permission in permissions:
        if not NAME.match(permission.name):
            raise ValueError(f"permission {permission.name!r} is not module.resource.action")
        PERMISSIONS[permission.name] = permission


def matches(pattern: str, name: str) -> bool:
    """``finance.*`` (or ``finance``) covers every finance permission; ``*.*.read`` every read."""
    wanted = pattern.split(".")
    wanted += ["*"] * (3 - len(wanted))
    return all(w == "*" or w == part for w, part in zip(wanted, name.split("."), strict=True))


def expand(patterns: tuple[str, ...] | list[str]) -> frozenset[str]:
    return frozenset(name for name in PERMISSIONS for p in patterns if matches(p, name))


def unknown_patterns(patterns: list[str]) -> list[str]:
    """Patterns that are malformed or cover no declared permission: a typo, not a grant."""
    return [p for p in patterns if not PATTERN.match(p) or not expand([p])]


def is_privileged(name: str) -> bool:
    permission = PERMISSIONS.get(name)
    return permission is not None and permission.privileged


def _p(name: str, description: str, privileged: bool = False) -> Permission:
    return Permission(name, description, privileged)


# The platform's own permissions. Business modules declare theirs in their auth.py; the ones
# below for modules still to come are reserved now so that system roles mean what they say.
declare(
    _p("identity.member.read", "See the tenant's members, invitations and groups"),
    _p("identity.member.manage", "Invite, suspend and remove members; manage groups", privileged=True),
    _p("identity.session.manage", "See and end members' sessions", privileged=True),
    _p("identity.security.manage", "Security policy, SSO connections, SCIM and OAuth clients", privileged=True),
    _p("access.role.read", "See roles, permission sets, assignments and departments"),
    _p("access.role.manage", "Create, change and delete custom roles", privileged=True),
    _p("access.assignment.manage", "Assign roles to people and groups", privileged=True),
    _p("access.department.manage", "Maintain departments and people's places in them"),
    _p("access.impersonation.start", "View the console as another member", privileged=True),
    _p("access.approval.read", "See approval requests"),
    _p("access.approval.decide", "Approve or reject other people's requests", privileged=True),
    _p("access.flag.read", "See feature flags"),
    _p("access.flag.manage", "Override feature flags for the tenant", privileged=True),
    _p("access.entitlement.read", "See what the tenant's plan allows"),
    _p("audit.event.read", "Read the audit trail"),
    _p("tenancy.tenant.read", "See the tenant's settings"),
    _p("tenancy.tenant.manage", "Change the tenant's settings", privileged=True),
    _p("tenancy.data.export", "Export all of the tenant's data", privileged=True),
    _p("tenancy.tenant.delete", "Delete the tenant", privileged=True),
    _p("finance.account.read", "See the chart of accounts"),
    _p("finance.account.manage", "Maintain the chart of accounts"),
    _p("finance.journal.read", "See journal entries"),
    _p("finance.journal.post", "Post and reverse journal entries"),
    _p("finance.invoice.read", "See invoices, bills and payments"),
    _p("finance.invoice.manage", "Issue invoices, enter bills and payments"),
    _p("finance.bank.read", "See bank statements"),
    _p("finance.bank.reconcile", "Import statements and reconcile"),
    _p("finance.period.lock", "Lock and close periods", privileged=True),
    _p("finance.report.read", "Run financial reports"),
    _p("hr.employee.read", "See employees"),
    _p("hr.employee.manage", "Maintain employees"),
    _p("hr.payroll.read", "See payroll"),
    _p("hr.payroll.manage", "Run payroll", privileged=True),
    _p("crm.lead.read", "See leads and contacts"),
    _p("crm.lead.manage", "Maintain leads and contacts"),
    _p("crm.opportunity.read", "See opportunities"),
    _p("crm.opportunity.manage", "Maintain opportunities"),
    _p("projects.project.read", "See projects and tasks"),
    _p("projects.project.manage", "Maintain projects and tasks"),
    _p("projects.timesheet.submit", "Log time"),
    _p("support.ticket.read", "See tickets"),
    _p("support.ticket.manage", "Work tickets"),
    _p("analytics.dashboard.read", "See dashboards"),
    _p("analytics.dashboard.manage", "Build dashboards and run queries"),
    _p("integrations.webhook.read", "See webhooks and connectors"),
    _p("integrations.webhook.manage", "Maintain webhooks and connectors"),
    _p("integrations.apikey.manage", "Issue API keys and OAuth clients for integrations", privileged=True),
    _p("ai.copilot.use", "Ask the AI copilot"),
)

_SETS = (
    PermissionSet("all", "Everything", "Every permission of the tenant", ("*",)),
    PermissionSet("read_all", "Read everything", "Every read permission, the audit trail included", ("*.*.read",)),
    PermissionSet("notes.read", "Notes: read", "Read notes", ("notes.note.read",)),
    PermissionSet("notes.write", "Notes: write", "Read, write and delete notes", ("notes.*",)),
    PermissionSet("identity.admin", "People and security", "Members, sessions and security", ("identity.*",)),
    PermissionSet("access.admin", "Access control", "Roles, assignments, departments, approvals", ("access.*",)),
    PermissionSet(
        "access.org", "Organisation", "Departments and people", ("access.department.manage", "access.role.read")
    ),
    PermissionSet("audit.read", "Audit trail", "Read the audit trail", ("audit.event.read",)),
    PermissionSet("finance.admin", "Finance: everything", "The whole ledger, periods and reports", ("finance.*",)),
    PermissionSet("finance.read", "Finance: read", "Ledger and reports, read-only", ("finance.*.read",)),
    PermissionSet(
        "finance.bookkeeping",
        "Finance: bookkeeping",
        "Post entries, invoices, bills and payments, reconcile the bank; no period locks",
        ("finance.*.read", "finance.journal.post", "finance.invoice.manage", "finance.bank.reconcile"),
    ),
    PermissionSet("hr.admin", "HR: everything", "Employees and payroll", ("hr.*",)),
    PermissionSet("projects.manage", "Projects", "Projects, tasks and timesheets", ("projects.*",)),
    PermissionSet("crm.sales", "Sales", "Leads and opportunities", ("crm.*",)),
    PermissionSet("support.agent", "Support", "Tickets", ("support.*",)),
    PermissionSet("analytics.all", "Analytics", "Dashboards and queries", ("analytics.*",)),
    PermissionSet("integrations.all", "Integrations", "Webhooks, connectors, keys", ("integrations.*",)),
    PermissionSet(
        "tenant.basics",
        "Tenant basics",
        "See the tenant's settings, feature flags and plan",
        ("tenancy.tenant.read", "access.flag.read", "access.entitlement.read"),
    ),
    PermissionSet("ai.copilot", "AI copilot", "Ask the copilot", ("ai.copilot.use",)),
)
PERMISSION_SETS: dict[str, PermissionSet] = {s.key: s for s in _SETS}

PLATFORM_ADMIN = "Platform Admin"
TENANT_ADMIN = "Tenant Admin"
MEMBER = "Member"
AUDITOR = "Auditor"

_ROLES = (
    SystemRole(PLATFORM_ADMIN, "Operates the platform; reaches every tenant", ("all",), platform_wide=True),
    SystemRole(TENANT_ADMIN, "Administers the tenant: people, security, roles, everything", ("all",), step_up=True),
    SystemRole(
        "Finance Admin",
        "Runs the books: ledger, invoices, bank, periods, reports",
        ("finance.admin", "notes.write", "analytics.all", "ai.copilot", "tenant.basics"),
        step_up=True,
    ),
    SystemRole(
        "HR Admin",
        "Employees, payroll and the organisation",
        ("hr.admin", "access.org", "identity.admin", "notes.write", "ai.copilot", "tenant.basics"),
    ),
    SystemRole(
        "Project Manager",
        "Projects, tasks and timesheets",
        ("projects.manage", "notes.write", "ai.copilot", "tenant.basics"),
    ),
    SystemRole("Sales Rep", "Leads and opportunities", ("crm.sales", "notes.write", "ai.copilot", "tenant.basics")),
    SystemRole("Support Agent", "Tickets", ("support.agent", "notes.write", "ai.copilot", "tenant.basics")),
    SystemRole("BI Analyst", "Dashboards over every module's data", ("analytics.all", "read_all")),
    SystemRole("Developer", "Builds on the platform's APIs", ("integrations.all", "tenant.basics", "notes.read")),
    SystemRole(
        "Integration Engineer",
        "Connects other systems",
        ("integrations.all", "identity.admin", "notes.read", "ai.copilot", "tenant.basics"),
        step_up=True,
    ),
    SystemRole(AUDITOR, "Reads everything, the audit trail included; changes nothing", ("read_all", "audit.read")),
    SystemRole(MEMBER, "An ordinary member: notes and the copilot", ("notes.write", "ai.copilot", "tenant.basics")),
)
SYSTEM_ROLES: dict[str, SystemRole] = {r.name: r for r in _ROLES}
TENANT_ROLES = tuple(r.name for r in _ROLES if not r.platform_wide)


def system_role(name: str) -> SystemRole | None:
    return SYSTEM_ROLES.get(name)


def role_permissions(permission_sets: tuple[str, ...] | list[str]) -> frozenset[str]:
    found: set[str] = set()
    for key in permission_sets:
        s = PERMISSION_SETS.get(key)
        if s is not None:
            found |= s.expand()
    return frozenset(found)
