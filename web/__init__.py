"""What a person opens in a browser: the read-only status page, the JSON API (SPEC 11)
and the action confirmation pages.  ``create_app(settings, sessions)``; no globals.

The web app never sends mail: an action's POST calls the workflow, which writes outbox
rows in the same transaction; ``mailer/`` delivers them.
"""

from __future__ import annotations

from datetime import datetime, timezone
import re
from typing import Any, Callable

from flask import Flask
from markupsafe import Markup, escape

from handoff.db import SessionFactory
from handoff.health import ProcessHealth
from handoff.settings import Settings
from handoff.words import format_instant
from templates import TEMPLATE_DIR
from web.page_filters import install_page_filters

Clock = Callable[[], datetime]


def create_app(
    settings: Settings,
    sessions: SessionFactory,
    *,
    clock: Clock | None = None,
    health: Callable[[], ProcessHealth] | None = None,
    telemetry: Any = None,  # handoff.telemetry.Telemetry: the process's, for /metrics
    health_only: bool = False,  # /healthz and /metrics alone (smtp, worker, imap)
) -> Flask:
    app = Flask(__name__, template_folder=str(TEMPLATE_DIR / "web"))
    app.jinja_env.autoescape = True  # our templates end in .j2: escape everything
    app.config.update(SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=64 * 1024)
    app.extensions["handoff"] = {
        "settings": settings,
        "sessions": sessions,
        "clock": clock or (lambda: datetime.now(timezone.utc)),
        "health": health or (lambda: ProcessHealth("web", {"database": True})),
        "telemetry": telemetry,
    }
    app.jinja_env.filters["linkify"] = linkify
    # instants people read (a deadline, when a mail left): the configured zone, named
    app.jinja_env.filters["when"] = lambda at: format_instant(at, settings.timezone)
    # the page's shorter forms in words, each a <time> with the exact value one hover away
    install_page_filters(app.jinja_env, settings.timezone, app.extensions["handoff"]["clock"])
    from web import actions, figures, health as health_page, metrics, pages  # noqa: PLC0415

    app.register_blueprint(health_page.bp)
    app.register_blueprint(metrics.bp)
    if health_only:
        return app
    app.register_blueprint(pages.bp)
    app.register_blueprint(actions.bp)
    app.register_blueprint(figures.bp)
    return app


def state() -> dict[str, Any]:
    from flask import current_app

    return current_app.extensions["handoff"]  # type: ignore[no-any-return]


_URL = re.compile(r"https?://[^\s<>\"']+")


def linkify(text: str) -> Markup:
    """Escape ``text``, then make its http(s) URLs clickable (they are escaped too)."""
    escaped = str(escape(text))
    return Markup(_URL.sub(lambda m: f'<a href="{m[0]}" rel="noreferrer">{m[0]}</a>', escaped))
