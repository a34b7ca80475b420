"""Sub-commands of the `loraplace` CLI (see loraplace.cli)."""
