"""Jinja2 templates for mails (``email/``) and pages (``web/``): ``<purpose>.<part>.j2``.

This is a package only so the templates ship inside a wheel; nothing here imports them.
"""

from pathlib import Path

TEMPLATE_DIR = Path(__file__).parent
