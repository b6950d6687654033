"""Typed SQLAlchemy 2 models.  The schema itself is made by the Alembic migrations in
``handoff/migrations``; a test asserts the two agree."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which stores naive text) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    pass


class InboundMessage(Base):
    """Raw mail exactly as received, committed before the SMTP ``250`` (SPEC 8)."""

    __tablename__ = "inbound_messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(16))  # smtp | imap | webhook | cli
    mail_from: Mapped[str] = mapped_column(String(512))
    rcpt_tos: Mapped[list[str]] = mapped_column(JSON)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    # queued | processing | done | ignored | duplicate | failed
    kind: Mapped[str | None] = mapped_column(String(16))
    message_id: Mapped[str | None] = mapped_column(String(998))
    error: Mapped[str | None] = mapped_column(Text)
    problems: Mapped[list[str]] = mapped_column(JSON, default=list)  # what was broken
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # takes by a worker
    # while ``processing``: the take's end; a take whose lease ran out never finished
    # (its worker died or hung), and the message is taken again (``inbound_queue``)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handoff_id: Mapped[int | None] = mapped_column(ForeignKey("handoffs.id"))
    # what the door knows the message by (``imap:<mailbox>:<uidvalidity>:<uid>``,
    # ``mailgun:<token>``): a second delivery of the same thing stores nothing
    external_id: Mapped[str | None] = mapped_column(String(600), unique=True)

    __table_args__ = (Index("ix_inbound_status", "status", "id"),)


class Person(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)  # normalised
    display_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def label(self) -> str:
        return self.display_name or self.address


# the columns of the figures' covering indexes, the leading one first (handoff/figure_sql)
FIGURES_PERIOD_COLUMNS = (
    "created_at", "owner_id", "sender_id", "workflow", "status", "offered_at",
    "needs_decision", "decided_at", "accept_seconds", "limbo_seconds", "state_changed_at",
    "done_seconds", "decision_seconds", "clarity")
FIGURES_OPEN_COLUMNS = ("status", "created_at", "deadline", "owner_id", "sender_id",
                        "workflow")


class Handoff(Base):
    __tablename__ = "handoffs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))
    previous_status: Mapped[str | None] = mapped_column(String(16))
    ball: Mapped[str] = mapped_column(String(16))  # owner | sender | nobody
    workflow: Mapped[str] = mapped_column(String(64), default="default")
    sender_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    packet: Mapped[dict[str, Any]] = mapped_column(JSON)
    problems: Mapped[list[str]] = mapped_column(JSON, default=list)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    origin_message_id: Mapped[str | None] = mapped_column(String(998))
    origin_references: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # SPEC 5: an out-of-office reply from the owner marks them away until they really
    # reply or act; a bounce of a mail to them marks their address as failing
    owner_away_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    owner_unreachable: Mapped[str | None] = mapped_column(String(500))
    # chasing (SPEC 5): when the chaser should look at this handoff next (set to "now"
    # by every change; a pass reads only due rows), and the owner's snooze
    next_chase_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # milestones for the figures (issue 11), kept by lifecycle.set_status: the latest
    # offer (a hand-on offers anew), the first acceptance after it, the latest done,
    # the end (closed, declined, cancelled); seconds spent offered or needing info
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    limbo_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # decision rules (SPEC 6): why a decision is needed, who decides, what was decided
    needs_decision: Mapped[str | None] = mapped_column(String(500))
    decision_owner_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision: Mapped[str | None] = mapped_column(Text)
    # what the figures add up, worked out when the milestones change (lifecycle.
    # keep_figures) so that reading a period is reading whole numbers from an index:
    # whole seconds from the offer to the acceptance, from the mail to done (while done
    # or closed), to the decision; and the owner's clarity answer
    accept_seconds: Mapped[int | None] = mapped_column(Integer)
    done_seconds: Mapped[int | None] = mapped_column(Integer)
    decision_seconds: Mapped[int | None] = mapped_column(Integer)
    clarity: Mapped[str | None] = mapped_column(String(16))

    sender: Mapped[Person] = relationship(foreign_keys=[sender_id], lazy="joined")
    owner: Mapped[Person | None] = relationship(foreign_keys=[owner_id], lazy="joined")
    decision_owner: Mapped[Person | None] = relationship(foreign_keys=[decision_owner_id])

    __table_args__ = (
        Index("ix_handoffs_workflow_created", "workflow", "created_at"),
        # covering indexes: a figures page reads its period, and what is open now, from
        # these alone (never the rows with their packets); they still serve every
        # lookup by status, and by creation time
        Index("ix_handoffs_figures_period", *FIGURES_PERIOD_COLUMNS),
        Index("ix_handoffs_figures_open", *FIGURES_OPEN_COLUMNS),
        # the status page lists ended handoffs latest activity first (views._by_attention)
        Index("ix_handoffs_last_activity", "last_activity_at", "id"),
    )

    @property
    def ref(self) -> str:
        return f"H-{self.id}"


class Event(Base):
    """The append-only timeline (SPEC 4): never updated, never deleted."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    kind: Mapped[str] = mapped_column(String(32))
    how: Mapped[str] = mapped_column(String(16))  # link | reply | mail | system
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    actor: Mapped[Person | None] = relationship(lazy="joined")


class ThreadRef(Base):
    """Every Message-ID known to belong to a handoff (the original, replies in the
    thread, our own sent mail), so ``In-Reply-To``/``References`` find the handoff and a
    second delivery of the same message is recognised (SPEC 7)."""

    __tablename__ = "thread_refs"
    message_id: Mapped[str] = mapped_column(String(998), primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), index=True)
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))


class OutboxMail(Base):
    """The intent to send one mail (SPEC 8).  Rendered and delivered by ``mailer/``."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    # queued | sending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # when a queued row is due; for a row being sent, when its claim lapses (a crashed
    # sender's rows are taken up again after that)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    subject: Mapped[str | None] = mapped_column(String(998))
    delivered_to: Mapped[str | None] = mapped_column(String(1024))  # .eml path or host

    recipient: Mapped[Person] = relationship(lazy="joined")

    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)


class Nudge(Base):
    """One chase step claimed for one recipient (SPEC 5).  The unique key is the
    exactly-once guarantee: two chasers racing for the same step, on SQLite or
    PostgreSQL, cannot both insert it.  ``epoch`` is the handoff's ``state_changed_at``
    when claimed: a new stay in a state starts its steps afresh."""

    __tablename__ = "nudges"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"))
    rule: Mapped[str] = mapped_column(String(32))
    number: Mapped[int] = mapped_column(Integer)
    epoch: Mapped[datetime] = mapped_column(UTCDateTime)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    step: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("handoff_id", "rule", "number", "epoch", "recipient_id",
                         name="uq_nudges_once"),
        Index("ix_nudges_recipient_claimed", "recipient_id", "claimed_at"),
    )


class ActionToken(Base):
    """A link's token, stored only as its SHA-256 (SPEC 4)."""

    __tablename__ = "action_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    action: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ImapCursor(Base):
    """Where the IMAP watcher is in one mailbox (SPEC 8): messages with a UID above
    ``last_uid`` under this ``uidvalidity`` are new.  A changed UIDVALIDITY (RFC 3501
    2.3.1.1) means the server renumbered: the watcher starts over, and Message-ID and
    ``inbound_messages.external_id`` keep it from storing anything twice."""

    __tablename__ = "imap_cursors"
    mailbox: Mapped[str] = mapped_column(String(512), primary_key=True)  # user@host/folder
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SpentToken(Base):
    """A provider's single-use token (Mailgun's) that was verified but not stored with a
    message (the request was refused: not ours, too large, malformed).  Used again, it
    is a replay: Mailgun signs the token and timestamp, not the body, so without this a
    refused request could be sent again with another body inside the replay window."""

    __tablename__ = "spent_tokens"
    token: Mapped[str] = mapped_column(String(600), primary_key=True)
    spent_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookEvent(Base):
    """A handoff event for the outbound event webhooks (SPEC 8), written in the same
    transaction as the change (a transactional outbox): the webhook worker fans each one
    out to the configured endpoints as :class:`WebhookDelivery` rows."""

    __tablename__ = "webhook_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), index=True)
    type: Mapped[str] = mapped_column(String(32))  # handoff.created, handoff.accepted, ...
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued | fanned

    __table_args__ = (Index("ix_webhook_events_status", "status", "id"),)


class WebhookDelivery(Base):
    """One event to one endpoint, retried with backoff; its attempts are the delivery log
    the handoff's page shows."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id"))
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), index=True)
    endpoint: Mapped[str] = mapped_column(String(1024))
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    # queued | sending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    log: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # each attempt
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("event_id", "endpoint", name="uq_webhook_delivery_once"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )


class HandoffCount(Base):
    """How many handoffs there are, kept by a trigger on ``handoffs`` (migration 0008):
    the sum over the shards is the API's exact total (SPEC 11) without counting the
    table.  Written by the database only."""

    __tablename__ = "handoff_counts"
    shard: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(BigInteger)


class ClarityAnswer(Base):
    """The owner's answer to "was the handoff clear enough to act on?" (SPEC 4): one per
    handoff, asked when it closes."""

    __tablename__ = "clarity_answers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    answer: Mapped[str] = mapped_column(String(16))  # clear | missing | unclear
    note: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Digest(Base):
    """A weekly digest sent (issue 11): at most one per person, kind and workflow a
    period; its row is the claim, as a Nudge is a chase step's."""

    __tablename__ = "digests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    kind: Mapped[str] = mapped_column(String(16))  # sender | manager
    workflow: Mapped[str] = mapped_column(String(64), default="", server_default="")
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("recipient_id", "kind", "workflow", "period_start",
                         name="uq_digests_once_a_period"),
        Index("ix_digests_recipient_created", "recipient_id", "created_at"),
    )
