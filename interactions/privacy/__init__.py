"""Privacy: no card number in anything the hub stores or logs (PCI DSS): masked in values, refused in keys."""
