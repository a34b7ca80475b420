"""One entry point per evidence track: `load_track("published", …)` → `Evidence`."""
from __future__ import annotations

import functools

from loraplace.evidence.records import Evidence

TRACKS = ("published", "tiny", "paper")
PROFILES = ("smoke", "default", "study", "full")  # tiny: smoke|default|full; paper: smoke|study|full
NOT_YET: dict[str, str] = {}


@functools.lru_cache(maxsize=None)
def load_track(track: str, *, published_dir: str | None = None, profile: str = "default",
               cache_dir: str | None = None, paper_models: tuple[str, ...] = (),
               paper_data: str | None = None) -> Evidence:
    """The records of one track: the study's released outputs, or the tiny / paper re-run
    (trained or cached)."""
    if track == "published":
        from loraplace.tracks.published.loader import load_published

        return load_published(published_dir)
    if track == "tiny":
        from loraplace.tracks.tiny.build import build_tiny
        from loraplace.train.cache import Cache

        return build_tiny(profile, cache=Cache(cache_dir))
    if track == "paper":
        from loraplace.tracks.paper.track import build_paper
        from loraplace.train.cache import Cache

        return build_paper(profile, models=tuple(paper_models), data_dir=paper_data, cache=Cache(cache_dir),
                           published_dir=published_dir)
    if track in NOT_YET:
        raise NotImplementedError(f"--evidence {track}: not implemented yet ({NOT_YET[track]})")
    raise ValueError(f"Unknown evidence track {track!r}. Available: {', '.join(TRACKS)}")
