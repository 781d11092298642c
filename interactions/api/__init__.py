"""The REST API: one module per resource, bearer-token authentication, and domain errors as problem+json."""
