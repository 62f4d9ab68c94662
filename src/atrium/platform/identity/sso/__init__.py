"""Single sign-on: a tenant's own IdP (OIDC or SAML 2.0) and the platform's social connections."""
