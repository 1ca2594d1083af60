"""Training and fine-tuning of f-BRS models from TOML recipes.

Entry points: ``config.load_recipe(path, overrides)`` reads a recipe from the top-level
``training/`` folder (or any path) and ``trainer.train(config, out_dir)`` runs it, alone or as
one of several ``torchrun`` processes. Submodules are imported explicitly so that importing the
package costs nothing: ``sampling`` (simulated training clicks), ``augment``, ``losses``,
``data`` (the torch Dataset), ``model_init`` (starting weights, parameter groups),
``records`` (logs, RNG snapshots) and ``distributed`` (DDP).
"""
