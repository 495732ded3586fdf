"""Bringing your own network: a class here, its config in conf/model/, found through
`hydra.searchpath` (see README, "Your own model")."""
