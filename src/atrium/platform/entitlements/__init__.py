"""Entitlements: what a tenant's plan allows (modules, features, seats, quotas), checked per request."""
