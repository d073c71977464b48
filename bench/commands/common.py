"""Exit codes shared by the subcommands."""

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
