"""Mail in and out: the SMTP listener, composing mail from templates, outbox delivery.

Imports ``handoff`` (the domain); never ``web`` or ``webhooks``.
"""
