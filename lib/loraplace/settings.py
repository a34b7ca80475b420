"""The suite's settings: one typed, frozen object built from the command line, the ini file and the
environment (in that order of precedence), then passed down instead of read from `os.environ`.

`Settings.from_sources` is pure (it takes the three sources as mappings), so the precedence rule is
tested without pytest; the plugin builds it once per session (`pytest_plugin.plugin.settings`).
Paths left as None mean the library's own default (`train.cache.default_cache_dir`,
`tracks.published.fetch.resolve_published_dir`), which read their own `LORAPLACE_*` variables.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Mapping

# environment variable -> setting, for settings the environment may give when the command line
# and the ini file do not (a value of "1" turns a flag on)
ENV = {"LORAPLACE_ALLOW_UNSANDBOXED": "allow_unsandboxed"}
VERDICT_MODES = ("assert", "record")


class SettingsError(ValueError):
    """A setting that no source may take (the message names the source and the valid values)."""


@dataclass(frozen=True)
class Settings:
    evidence: tuple[str, ...] = ("tiny",)
    profile: str = "default"
    scorer: str = "all"  # a scorer name, or "all"
    published_dir: str | None = None
    cache_dir: str | None = None
    paper_models: tuple[str, ...] = ()
    paper_data: str | None = None
    protocol: str | None = None  # paper track: study | harness (None: the track's default, study)
    allow_missing_weights: bool = False
    conditions: str | None = None  # paper track: study | harmonized (None: study for the study's two architectures)
    report_dir: str | None = None
    verdicts: str = "assert"
    bootstrap_resamples: int = 10_000
    seed: int = 3407
    allow_slow_path: bool = False
    allow_unsandboxed: bool = False
    progress: bool = True

    @classmethod
    def from_sources(cls, options: Mapping, ini: Mapping | None = None, env: Mapping | None = None) -> Settings:
        """Each setting from `options` (None or [] = not given), else `ini`, else `env`, else the default."""
        ini, env = ini or {}, env or {}
        from_env = {dest: env[var] == "1" for var, dest in ENV.items() if var in env}
        values = {}
        for f in fields(cls):
            for source in (options, ini, from_env):
                value = source.get(f.name)
                if value not in (None, [], (), ""):
                    values[f.name] = tuple(dict.fromkeys(value)) if f.name in ("evidence", "paper_models") \
                        else value
                    break
        settings = cls(**values)
        if settings.verdicts not in VERDICT_MODES:
            raise SettingsError(f"verdicts = {settings.verdicts!r} is not one of {', '.join(VERDICT_MODES)}")
        return settings

    def track_options(self) -> dict:
        """The keyword options every track loader may declare (`evidence.registry.OPTIONS`)."""
        return {"published_dir": self.published_dir, "profile": self.profile, "cache_dir": self.cache_dir,
                "paper_models": self.paper_models, "paper_data": self.paper_data, "protocol": self.protocol,
                "allow_missing_weights": self.allow_missing_weights, "conditions": self.conditions,
                "allow_unsandboxed": self.allow_unsandboxed}

    def scorers(self, available: tuple[str, ...]) -> list[str]:
        """The scorers this session judges under (`all`: every one available)."""
        return list(available) if self.scorer == "all" else [self.scorer]
