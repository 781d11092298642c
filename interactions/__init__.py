"""The contact-centre domain: event catalogue, ingestion, tokens and the REST API."""
