"""Version of ``idex``, written once: the package metadata takes it from here (``[tool.hatch.version]``), so a
process learns it without searching the installed distributions."""

__version__ = "0.1.0"
