"""Evidence track `published`: the study's released per-item outputs, fetched and re-scored."""
