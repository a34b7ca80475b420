"""Progress of long phases: events written by workers (`events`), lines rendered (`render`)."""
