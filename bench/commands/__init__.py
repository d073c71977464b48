"""``datarax-bench`` subcommands, one module each.

Each module defines ``register(subparsers)``, which adds its parser and sets
``handler=fn(args, console) -> exit code`` on it. Add a command by adding a module here and
its name to ``COMMANDS``.
"""

COMMANDS = ("run", "list", "show", "probe", "report", "cloud", "compare", "gate", "ab", "baseline", "export")
