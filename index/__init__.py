"""Hybrid retrieval over published policies and interpretations.

The service other packages use is `index.service.SearchService` (attached to the app as
`app.extensions["policybot"].search`); its results are `index.hits.Hit`."""
