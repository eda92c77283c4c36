"""WSGI layers around the Flask app that concern how it is served: the real client address
behind trusted proxies, concurrency lanes that keep a share of the server's threads for the
WeChat callback, and the staff pages on a host name of their own. Only server.py uses them."""
