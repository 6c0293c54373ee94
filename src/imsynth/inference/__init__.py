"""Inference from checkpoints: rebuild a trained model from its embedded config and run it."""
