"""The command line: the subcommands and their output."""
