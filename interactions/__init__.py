"""The contact-centre domain, one sub-package per concern (see docs/architecture.md)."""
