"""Security: API keys, the certificate authority and authorization rules."""
