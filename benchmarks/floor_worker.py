"""The bare worker of ``benchmarks.floor``: the least any mail-to-handoff worker does per
handoff, in plain psycopg and the email package's compat32 API (which ours uses too).

Per stored mail, in one transaction: take it (``FOR UPDATE SKIP LOCKED``), parse it, read
sender, owner, subject and the body's "Done when:" and "Deadline:" lines, insert the
handoff and two outbox rows (offer to the owner, receipt to the sender), mark the mail
done.  Every few mails the outbox: take a batch, compose each as text + HTML, send it over
one SMTP connection, mark the batch sent.  No ORM, templates, tokens, events, people,
thread references, robot guards, deadline reading or reply parsing: what it leaves out is
what the product adds.

Run by ``benchmarks.floor`` as ``python benchmarks/floor_worker.py URL SMARTHOST_PORT N``;
once the N handoffs are out it prints ``sent`` and waits for its standard input to close,
so the harness reads its CPU (and its PostgreSQL backend's) before they end.
"""

from __future__ import annotations

import re
import smtplib
import sys
from email import message_from_bytes
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formatdate, getaddresses, make_msgid

import psycopg

SCHEMA = [
    "CREATE TABLE inbound (id serial PRIMARY KEY, raw bytea NOT NULL, status text NOT NULL, "
    "handoff_id int)",
    "CREATE INDEX inbound_queued ON inbound (id) WHERE status = 'queued'",
    "CREATE TABLE handoffs (id serial PRIMARY KEY, title text, sender text, owner text, "
    "done_when text, deadline text, packet text, created_at timestamptz NOT NULL)",
    "CREATE TABLE outbox (id serial PRIMARY KEY, handoff_id int REFERENCES handoffs, "
    "recipient text, subject text, body text, in_reply_to text, status text NOT NULL)",
    "CREATE INDEX outbox_queued ON outbox (id) WHERE status = 'queued'",
]
FIELD = re.compile(r"^(Done when|Deadline):[ \t]*(.+)$", re.M)
CRLF = compat32.clone(linesep="\r\n")
FROM = "handoff@bench.test"


def take_one(conn: psycopg.Connection) -> bool:
    with conn.transaction():
        row = conn.execute("SELECT id, raw FROM inbound WHERE status = 'queued' ORDER BY id "
                           "LIMIT 1 FOR UPDATE SKIP LOCKED").fetchone()
        if row is None:
            return False
        inbound_id, raw = row
        msg = message_from_bytes(raw)
        sender = getaddresses([str(msg["From"])])[0][1]
        owner = getaddresses([str(msg["To"])])[0][1]
        subject, message_id = str(msg["Subject"]), str(msg["Message-ID"])
        plain = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
        payload: bytes = plain.get_payload(decode=True)  # type: ignore[assignment]
        text = payload.decode(plain.get_content_charset() or "utf-8")
        fields = dict(FIELD.findall(text))
        handoff_id = conn.execute(
            "INSERT INTO handoffs (title, sender, owner, done_when, deadline, packet, "
            "created_at) VALUES (%s, %s, %s, %s, %s, %s, now()) RETURNING id",
            [subject, sender, owner, fields.get("Done when"), fields.get("Deadline"), text]
        ).fetchone()[0]  # type: ignore[index]
        body = (f"{sender} hands you: {subject}\n\nDone when: {fields.get('Done when')}\n"
                f"Deadline: {fields.get('Deadline')}\n\n{text}")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO outbox (handoff_id, recipient, subject, body, in_reply_to, status) "
                "VALUES (%s, %s, %s, %s, %s, 'queued')",
                [(handoff_id, owner, f"Re: {subject}", body, message_id),
                 (handoff_id, sender, f"Re: {subject}", f"Offered to {owner}.\n\n{body}",
                  message_id)])
        conn.execute("UPDATE inbound SET status = 'done', handoff_id = %s WHERE id = %s",
                     [handoff_id, inbound_id])
        return True


def send_batch(conn: psycopg.Connection, smtp: smtplib.SMTP) -> int:
    with conn.transaction():
        rows = conn.execute("SELECT id, recipient, subject, body, in_reply_to FROM outbox "
                            "WHERE status = 'queued' ORDER BY id LIMIT 10 "
                            "FOR UPDATE SKIP LOCKED").fetchall()
        for _, recipient, subject, body, in_reply_to in rows:
            mail = MIMEMultipart("alternative")
            mail["From"], mail["To"], mail["Subject"] = FROM, recipient, subject
            mail["Date"] = formatdate()
            mail["Message-ID"] = make_msgid(domain="bench.test")
            mail["In-Reply-To"] = in_reply_to
            mail.attach(MIMEText(body, "plain", "utf-8"))
            html = body.replace("&", "&amp;").replace("<", "&lt;").replace("\n", "<br>\n")
            mail.attach(MIMEText(f"<html><body><p>{html}</p></body></html>", "html", "utf-8"))
            smtp.sendmail(FROM, [recipient], mail.as_bytes(policy=CRLF))
        if rows:
            conn.execute("UPDATE outbox SET status = 'sent' WHERE id = ANY(%s)",
                         [[r[0] for r in rows]])
    return len(rows)


def main(url: str, smarthost_port: int, total: int) -> None:
    conn = psycopg.connect(url)
    smtp = smtplib.SMTP("127.0.0.1", smarthost_port)
    taken = sent = 0
    while sent < 2 * total:
        took = take_one(conn)
        taken += took
        if taken % 5 == 0 or not took:  # the outbox in batches, as ours
            while (n := send_batch(conn, smtp)):
                sent += n
    smtp.quit()
    print("sent", flush=True)
    sys.stdin.read()  # until the harness has read the CPU times
    conn.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
