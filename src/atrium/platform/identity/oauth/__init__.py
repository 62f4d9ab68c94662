"""OAuth 2.0 client-credentials clients of a tenant and the signed JWT access tokens they obtain."""
