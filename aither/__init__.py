"""The `aither` command: the root that names every command group and imports one on use."""
