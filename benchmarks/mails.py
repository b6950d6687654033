"""Realistic handoff mails: ana-N asks bob-N, CCs the service, labeled lines in the body."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, formataddr

SERVICE = "handoff@acme.test"
PEOPLE = 200  # distinct senders and owners, so Person rows are reused as in real life

TASKS = (
    ("Renew the TLS certificate for api.corp.test",
     "the new cert is live and the expiry monitor is green",
     "the current one expires in nine days and the CA needs a day to issue"),
    ("Send the Q3 numbers to the auditors",
     "the auditors confirm they have the signed PDF",
     "they start fieldwork on Monday and need the figures beforehand"),
    ("Review the onboarding checklist for new support hires",
     "the checklist in the wiki has your comments resolved",
     "three new people start next week"),
    ("Migrate the nightly export job to the new scheduler",
     "the job ran twice on the new scheduler without alerts",
     "the old scheduler is switched off at the end of the month"),
    ("Answer the customer escalation from Northwind",
     "Northwind has a written answer and the ticket is closed",
     "their renewal is up for discussion this quarter"),
    ("Update the pricing page with the new tiers",
     "the page shows the three new tiers and legal signed off",
     "sales starts quoting the new prices next week"),
    ("Rotate the database credentials for the reporting replica",
     "the old credentials are revoked and the dashboards still load",
     "the credentials were in a screenshot shared outside the team"),
    ("Book the venue for the team offsite",
     "we have a signed booking for 25 people",
     "the good venues fill up six weeks ahead"),
)
DEADLINES = ("Friday 5pm", "Friday 5pm", "Monday noon", "next Tuesday", "tomorrow 9am",
             "end of next week")
DETAILS = (
    "I have started on this but I am out from tomorrow, so it needs a new owner. The notes "
    "from last time are in the shared drive under ops/runbooks; the second half of the "
    "document is out of date, so trust the commands more than the prose.",
    "There is a thread with the vendor from last month that explains the background. They "
    "were helpful on the phone, less so by mail, so call them if anything is unclear.",
    "Nothing here is hard, it just has to happen on time. Ping me on chat if you get stuck; "
    "I check it in the evenings too.",
)


@dataclass(frozen=True)
class Mail:
    index: int
    message_id: str
    mail_from: str
    owner: str
    raw: bytes


def make_mail(index: int, run_tag: str, now: datetime | None = None) -> Mail:
    n, m = index % PEOPLE, (index * 7 + 3) % PEOPLE
    sender, owner = f"ana-{n}@corp.test", f"bob-{m}@corp.test"
    title, done, why = TASKS[index % len(TASKS)]
    deadline = DEADLINES[index % len(DEADLINES)]
    message_id = f"<{run_tag}.{index}.{secrets.token_hex(4)}@corp.test>"
    msg = EmailMessage()
    msg["From"] = formataddr((f"Ana {n}", sender))
    msg["To"] = formataddr((f"Bob {m}", owner))
    msg["Cc"] = SERVICE
    msg["Subject"] = title
    # every mail its own Date, as in real traffic: deadlines resolve against it, so a
    # shared Date would let the service reuse one reading of "Friday 5pm" for all
    msg["Date"] = format_datetime((now or datetime.now(timezone.utc)) - timedelta(seconds=index))
    msg["Message-ID"] = message_id
    text = (
        f"Hi Bob,\n\n"
        f"could you take this over? {DETAILS[index % len(DETAILS)]}\n\n"
        f"Done when: {done}\n"
        f"Deadline: {deadline}\n"
        f"Why: {why}\n\n"
        f"Thanks a lot,\nAna\n\n"
        f"-- \nAna {n} | Operations | corp.test\n"
    )
    msg.set_content(text)
    if index % 3 == 0:
        paragraphs = "".join(f"<p>{p}</p>" for p in text.split("-- ")[0].split("\n\n") if p)
        msg.add_alternative(f"<html><body>{paragraphs.replace(chr(10), '<br>')}</body></html>",
                            subtype="html")
    return Mail(index, message_id, sender, owner, msg.as_bytes(policy=SMTP_POLICY))


def make_mails(count: int, run_tag: str) -> list[Mail]:
    now = datetime.now(timezone.utc)
    return [make_mail(i, run_tag, now) for i in range(count)]
