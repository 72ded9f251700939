"""Data layer: sources -> Manifest -> prepared 48x48 tensors -> splits."""
