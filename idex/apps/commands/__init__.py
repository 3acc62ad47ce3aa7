"""The subcommands of ``idex``, one module per family; each imports its library layers only when run."""
