"""Imports every view module, so that their routes are on the blueprint."""
from portal import auth, setup, views_admin, views_releases, views_uploads  # noqa: F401
