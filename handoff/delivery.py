"""What a mail that could not be delivered means for its handoff (SPEC 8).

The outbox marks the row ``failed`` (the handoff's page lists it, with the smarthost's
words); here the timeline records it, and when the mail asked the owner to act (the
offer above all) the owner cannot be reached: the sender hears at once, as after a
bounce (SPEC 5).  A failed mail to the sender only goes on the page: mailing them about
mail to them that fails would fail too.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from handoff.addresses import ServiceAddresses
from handoff.models import Handoff, OutboxMail
from handoff.outbox import MAIL_KINDS
from handoff.reports import note_owner_unreachable
from handoff.lifecycle import record_event


def note_mail_failed(session: Session, service: ServiceAddresses, mail: OutboxMail,
                     error: str, now: datetime) -> None:
    handoff = session.get(Handoff, mail.handoff_id)
    if handoff is None:
        return
    record_event(session, handoff, "mail_failed", "system", now, None, mail=mail.kind,
                 to=mail.recipient.address, reason=error[:500])
    if mail.recipient_id == handoff.owner_id and MAIL_KINDS[mail.kind].asks_to_act:
        note_owner_unreachable(session, service, handoff,
                               f"the {mail.kind} could not be sent: {error}", now)
