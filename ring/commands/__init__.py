"""The subcommands of `ring`, one module each.

Every module has `add_parser(subparsers)`, which adds its parser and sets `func=run`, and
`run(args) -> int`, which returns the exit code (0 ok, 2 configuration or usage error, 3 clock
check refused). ring.cli builds the top-level parser and calls `args.func(args)`.
"""
