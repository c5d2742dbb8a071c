"""The ``seedance`` command line: a front end on `core.service.VideoService`, like ``bot`` and ``mcp_server``.

``cli.app.main`` is the entry point; ``cli.parser`` holds the words, ``cli.commands`` one module per
command, ``cli.output`` and ``cli.progress`` what the user sees.
"""
