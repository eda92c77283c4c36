"""Imports every module that defines tables, so the shared MetaData holds the whole schema.
Used by migrations/env.py (autogenerate) and by the test that checks models == migrations."""
import importlib

TABLE_MODULES = [
    "policies.tables",
    "interpretations.tables",
    "interpretations.events",
    "index.tables",
    "portal.tables",
    "bot.push.tables",
    "bot.tables",
    "bot.questionlog",
    "insights.tables",
]
for _name in TABLE_MODULES:
    importlib.import_module(_name)
