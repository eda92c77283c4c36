"""Listening to the public: hot topics, tasks from unanswered and low-rated questions, the
response ledger (回应台账) and the weekly / monthly / quarterly reports, built on the bot's
question log (bot/questionlog.py)."""
