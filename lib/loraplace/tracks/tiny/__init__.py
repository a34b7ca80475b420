"""Evidence track `tiny`: the study's design re-run on CPU model organisms, cached."""
