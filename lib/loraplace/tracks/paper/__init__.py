"""Evidence track `paper`: the study re-run on the real models through peft and lm-eval, cached."""
