"""Renderers: a `Report` in, text out. No I/O here: the CLI decides where the text goes."""
