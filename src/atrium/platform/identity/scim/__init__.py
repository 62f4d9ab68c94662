"""SCIM 2.0 provisioning of a tenant's users and groups by its IdP (RFC 7643/7644)."""
