"""loraplace: the claims of "Where Should LoRA Go?" as executable hypothesis tests."""
__version__ = "0.1.0"
