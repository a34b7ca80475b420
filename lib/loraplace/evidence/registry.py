"""The evidence tracks, behind one registry: `load_track("published", …)` → `Evidence`.

A `Track` names its loader as ``"module:function"`` and is imported only when loaded, so a
published-only session never imports torch. The pytest plugin (options, fixtures), `loraplace
plan` / `fill` / `compare` and the report read the registry; a new track is one `register` call
(CONTRIBUTING.md, "Adding an evidence track").
"""
from __future__ import annotations

import functools
import importlib
import inspect
from dataclasses import dataclass, field

from loraplace.evidence.records import Evidence

# The keyword options a loader may declare; it receives those it names (a track that trains
# nothing has no use for a cache).
OPTIONS = ("profile", "published_dir", "cache_dir", "paper_models", "paper_data", "protocol", "allow_missing_weights",
           "conditions", "allow_unsandboxed")


@dataclass(frozen=True)
class Track:
    name: str
    summary: str
    loader: str  # "module:function" -> Evidence, called with the OPTIONS it names
    profiles: tuple[str, ...] = ()  # () : the track has no profiles (it re-runs nothing)
    aliases: dict = field(default_factory=dict)  # profile alias -> profile ("default" of the paper track)
    runs_models: bool = False  # trains / evaluates models, so kernels and devices matter

    @property
    def accepted_profiles(self) -> tuple[str, ...]:
        return (*self.profiles, *self.aliases)

    def load(self, **options) -> Evidence:
        module, _, name = self.loader.partition(":")
        fn = getattr(importlib.import_module(module), name)
        wanted = inspect.signature(fn).parameters
        return fn(**{k: v for k, v in options.items() if k in wanted})


TRACKS: dict[str, Track] = {}


def register(track: Track) -> Track:
    """Add a track (a name already registered is an error, not a silent replacement)."""
    if track.name in TRACKS:
        raise ValueError(f"Evidence track {track.name!r} is registered already")
    TRACKS[track.name] = track
    return track


def unregister(name: str) -> None:
    TRACKS.pop(name, None)
    load_track.cache_clear()


def get_track(name: str) -> Track:
    try:
        return TRACKS[name]
    except KeyError:
        raise ValueError(f"Unknown evidence track {name!r}. Available: {', '.join(TRACKS)}") from None


def track_names() -> tuple[str, ...]:
    return tuple(TRACKS)


def profile_names() -> tuple[str, ...]:
    """Every profile name some track accepts, in registration order."""
    return tuple(dict.fromkeys(p for t in TRACKS.values() for p in t.accepted_profiles))


@functools.lru_cache(maxsize=None)
def load_track(track: str, *, published_dir: str | None = None, profile: str = "default",
               cache_dir: str | None = None, paper_models: tuple[str, ...] = (),
               paper_data: str | None = None, protocol: str | None = None,
               allow_missing_weights: bool = False, conditions: str | None = None,
               allow_unsandboxed: bool = False) -> Evidence:
    """The records of one track: the study's released outputs, or a re-run (trained or cached)."""
    return get_track(track).load(published_dir=published_dir, profile=profile, cache_dir=cache_dir,
                                 paper_models=paper_models, paper_data=paper_data, protocol=protocol,
                                 allow_missing_weights=allow_missing_weights, conditions=conditions,
                                 allow_unsandboxed=allow_unsandboxed)


register(Track("published", "the study's released per-item outputs, re-scored under named scorers",
               "loraplace.tracks.published.loader:load"))
register(Track("tiny", "the study's design re-run on tiny CPU model organisms, cached",
               "loraplace.tracks.tiny.build:load", profiles=("smoke", "default", "full"), runs_models=True))
register(Track("paper", "the study re-run on the real models (GPU; CPU for tiny checkpoints), cached",
               "loraplace.tracks.paper.track:load", profiles=("smoke", "study", "full"),
               aliases={"default": "study"}, runs_models=True))
