"""``make bench``: durable SMTP ingest and email-in -> offer latency of ``handoff serve``.

Each figure stands beside a baseline measured in the same run: a bare aiosmtpd server
that only commits each message to SQLite (``benchmarks.baseline_server``).  Run it with
``python -m benchmarks`` (``--help`` for the knobs); results go to ``benchmarks/RESULTS.md``.
"""
