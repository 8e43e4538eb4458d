"""Training, evaluation and export: the only package that imports torch/torchvision."""
