"""Flask CLI commands and their wiring, one module per feature (`init_app(app)` each).

This package sits above bot/ (it may import every layer) and below server.py.
"""
