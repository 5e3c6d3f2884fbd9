"""The Hydra configs of ``research-train`` (``research.cli.configs``), shipped with the package."""
