"""Targeted push (定向精准推送): matching releases to subscribers, the outbox, the sender."""
