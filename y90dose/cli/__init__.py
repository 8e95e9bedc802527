"""The ``y90dose`` command line: one entry point, one small module per subcommand."""
