"""One package per evidence track (published, tiny, paper), each behind `loraplace.evidence.registry`."""
