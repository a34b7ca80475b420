"""Named scorers: GSM8K answers, HumanEval programs, and the one execution path with its caches."""
