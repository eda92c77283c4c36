"""The staff portal (/staff): accounts and sessions, uploads, the release editor, 保密审查,
signing and publishing, lifecycle, dashboard and the audit view. Every step of the release
workflow goes through interpretations.workflow.Releases; nothing here bypasses it."""
