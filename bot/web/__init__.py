"""Flask views of the bot: the WeChat callback, the public H5 pages and the staff simulator."""
