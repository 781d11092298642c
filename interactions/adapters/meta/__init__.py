"""Meta's webhooks (WhatsApp Cloud API, Messenger, Instagram): the handshake, the signature, the payloads."""
