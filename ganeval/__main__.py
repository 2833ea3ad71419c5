from ganeval.cli import entry_point

entry_point()
