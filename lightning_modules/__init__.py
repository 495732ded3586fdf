"""LightningModule, networks and DataModules of the suite."""

from lightning_modules.classifier import Classifier

__all__ = ["Classifier"]
