"""HTTP between machines: provider inbound routes (``inbound``: Mailgun, Postmark,
SendGrid), which end in ``handoff.intake.receive_message`` like SMTP and IMAP, and
outbound event webhooks (``events``)."""
