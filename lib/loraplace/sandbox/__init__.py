"""The security boundary: model-written programs run where they cannot reach their outcome."""
