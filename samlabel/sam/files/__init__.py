"""Model files: checkpoint paths and strict loading, official downloads and hashes, Hugging Face key maps."""
