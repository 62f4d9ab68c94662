"""The application factory: routers, middleware, error handlers, and the embedded worker."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import BaseRoute

from atrium.api import health, problems
from atrium.api.middleware import RequestContextMiddleware
from atrium.api.routing import APIRouter
from atrium.apps.finance.banking.router import router as finance_banking_router
from atrium.apps.finance.receivables.router import router as finance_receivables_router
from atrium.apps.finance.reports_router import router as finance_reports_router
from atrium.apps.finance.router import router as finance_router
from atrium.apps.notes.router import router as notes_router
from atrium.core.audit.router import router as audit_router
from atrium.core.logging import configure as configure_logging
from atrium.core.settings import Settings, get_settings
from atrium.platform.access.router import auth_router as step_up_router
from atrium.platform.access.router import router as access_router
from atrium.platform.entitlements.router import router as entitlements_router
from atrium.platform.flags import store as flag_store
from atrium.platform.flags.router import router as flags_router
from atrium.platform.identity.oauth.router import router as oauth_router
from atrium.platform.identity.router import router as auth_router
from atrium.platform.identity.scim.router import router as scim_router
from atrium.platform.identity.scim.router import token_router as scim_token_router
from atrium.platform.identity.sms_router import router as sms_router
from atrium.platform.identity.sso.router import router as sso_router
from atrium.platform.identity.sso.saml_router import router as saml_router
from atrium.platform.identity.tenant_router import router as tenant_identity_router
from atrium.platform.identity.webauthn_router import router as webauthn_router
from atrium.platform.tenancy.router import router as tenants_router
from atrium.platform.tenancy.tenant_router import router as tenant_router
from atrium.runtime import Runtime


@functools.cache
def _routes() -> tuple[BaseRoute, ...]:
    """Every module's routes (API and console), included once per process.

    FastAPI prepares an included router's routes (dependencies, parameter and body models) on
    first use, and keeps them in the inclusion. Apps made from the same inclusions share that
    work, so the second app a process makes (a test's, a CLI command's) starts at once instead
    of preparing some 400 routes again. Nothing in them is the app's own: the runtime is read
    from ``app.state``, and no app overrides dependencies.

    FastAPI asks the routers in this order, so the business modules' APIs, which carry most of a
    tenant's requests, come first. No path of one router can match a route of another (a test
    holds that), so the order changes how fast a route is found, never which.
    """
    shared = APIRouter()
    for router in routers():
        shared.include_router(router)
    return tuple(shared.routes)


def routers() -> tuple[APIRouter, ...]:
    """Every module's router, API and console, in the order FastAPI asks them (``_routes``)."""
    api = (
        notes_router,
        finance_router,
        finance_receivables_router,
        finance_banking_router,
        finance_reports_router,
        health.router,
        auth_router,
        tenant_identity_router,
        tenants_router,
        tenant_router,
        audit_router,
        flags_router,
        entitlements_router,
        scim_token_router,
        scim_router,
        access_router,
        step_up_router,
        webauthn_router,
        sms_router,
        oauth_router,
        saml_router,
        sso_router,
    )
    from atrium.web.console import console_routers

    return (*api, *console_routers())


def create_app(
    settings: Settings | None = None, *, runtime: Runtime | None = None, embedded_worker: bool | None = None
) -> FastAPI:
    settings = settings or (runtime.settings if runtime else get_settings())
    configure_logging(settings.log_level, settings.log_json)
    rt = runtime or Runtime(settings)
    run_worker = settings.broker_url.startswith("memory://") if embedded_worker is None else embedded_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks: list[asyncio.Task[None]] = [asyncio.create_task(rt.tenants.listen(), name="atrium-tenant-cache")]
        tasks.append(flag_store.start(rt))  # feature flags: OpenFeature provider, snapshot kept fresh
        if run_worker:
            from atrium.worker import background_tasks

            tasks += await background_tasks(rt)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with suppress(asyncio.CancelledError):
                    await task
            if runtime is None:
                await rt.close()

    app = FastAPI(
        title="Atrium",
        version="0.1.0",
        description="Multi-tenant business platform: platform administration and tenant APIs.",
        lifespan=lifespan,
    )
    app.state.runtime = rt
    problems.install(app)
    app.router.routes.extend(_routes())
    from atrium.web.console import mount_console

    mount_console(app)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key.get_secret_value(),
        session_cookie="atrium_session",
        same_site="lax",
        https_only=settings.env == "production",
    )
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    return app
