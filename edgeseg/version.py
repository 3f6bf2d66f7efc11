"""The package version: one place, below every layer (the API and the manifests read it)."""

__version__ = "0.2.0"
