"""Identity: customer identifiers as URIs (tel:, mailto:, chat:, social:, account:), parsed and normalised."""
