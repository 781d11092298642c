"""Privacy: payment card data masked before anything reaches the log (PCI DSS)."""
