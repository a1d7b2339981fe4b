"""Declarative MIG layouts: mig-parted's config files, read strictly and applied with the fewest changes.

config = load_config("mig-config.yaml")
target = resolve_target(config, "all-balanced", gpus)     # what each GPU should hold
"""
