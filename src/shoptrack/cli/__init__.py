"""The command line at the edge: every Typer group of ``shoptrack`` (``main.py`` mounts them).

Nothing imports this package. Commands import what they use inside the command, so that
``shoptrack --help`` and a short command start without loading the server, numpy or scipy;
they share ``options.py`` (``--database-url``, the settings loader, output helpers).
"""
