"""handoff: the domain of an email-native handoff service.

No adapter (Flask, aiosmtpd, imapclient, Jinja2) is imported here, except by
``handoff.cli``, the composition root.  See docs/architecture.md.
"""
