"""Hybrid retrieval over published policies and interpretations.

The service other packages search with is `index.service.SearchService` (attached to the app as
`app.extensions["policybot"].search`); its results are `index.hits.Hit`. Its corpus is kept
current by the write path, `index.maintenance.IndexMaintainer` (`.index_maintainer`)."""
