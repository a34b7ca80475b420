"""How claims are judged: pairing, statistics (pure), the verdict rule, the factorial, C5's counts."""
