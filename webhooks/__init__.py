"""HTTP between machines: provider inbound routes (Mailgun, Postmark, SendGrid) and
outbound event webhooks.  Built in a later issue; every inbound route will end in
``handoff.intake.receive_message``, the same door as SMTP and IMAP."""
