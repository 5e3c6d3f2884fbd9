"""Hydra launchers of this project (``hydra/launcher=slurm``): see ``launcher``."""
