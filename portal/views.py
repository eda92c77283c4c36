"""Imports every view module, so that their routes are on the blueprint."""
from portal import (  # noqa: F401
    auth,
    display,
    navigation,
    setup,
    views_admin,
    views_push,
    views_releases,
    views_simulator,
    views_uploads,
)
