"""Inverse DRAW: a VAE that emits an observation while attending over a memory of latents."""

__version__ = "0.1.0"
