"""The one data contract every evidence track produces: a per-item `Record`.

One record per model × condition × domain × seed × benchmark × item × scorer. `item_key`
names the benchmark *question* (e.g. ``gsm8k:1203``), never a position inside a run's subset,
so two records with the same key always refer to the same question.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from loraplace import jsonl
from loraplace.roles import describe_role
from loraplace.vocab import TOPOLOGIES


class NoData(KeyError):
    """This track has no records for what a comparison asks (a run family, a model, a role): the
    one error a claim part may turn into an "unavailable" verdict. Every other error is a bug in
    the data or the code and fails the test with its message."""

    def __init__(self, what: str, available: str, of: str = ""):
        super().__init__(what, available, of)
        self.what = what  # what was asked for and is missing
        self.available = available  # what the track does have, as text
        self.of = of  # what `available` lists, when not what was asked for

    def __str__(self) -> str:  # KeyError would quote the message
        return f"{self.what}. Available{f' ({self.of})' if self.of else ''}: {self.available}"
BASE = "base"  # condition and domain of the un-fine-tuned model


@dataclass(frozen=True)
class Record:
    model: str
    topology: str
    condition: str
    domain: str
    seed: int
    benchmark: str
    item_key: str
    score: float
    scorer: str
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.topology not in TOPOLOGIES:
            raise ValueError(f"Unknown topology {self.topology!r}. Available: {', '.join(TOPOLOGIES)}")

    @property
    def run(self) -> tuple[str, str, str, int]:
        """The fine-tuning run this record was evaluated on."""
        return (self.model, self.condition, self.domain, self.seed)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def record_to_json(record: Record) -> str:
    return json.dumps(asdict(record), sort_keys=True, ensure_ascii=False)


def write_jsonl(records: Iterable[Record], path: Path) -> str:
    """Write records as JSONL (atomically) and return the file's sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(record_to_json(r) + "\n" for r in records)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return sha256_text(text)


def read_jsonl(path: Path) -> Iterator[Record]:
    """The records of a file `write_jsonl` wrote; `JsonlError` names the line that is not one."""
    for lineno, row in jsonl.rows(path):
        try:
            yield Record(**row)
        except (TypeError, ValueError) as exc:
            raise jsonl.JsonlError(path, lineno, f"not a loraplace record: {exc}") from exc


def select(records: Iterable[Record], **where) -> list[Record]:
    """Records whose fields equal every given value (a value may also be a tuple of choices)."""
    def keep(r: Record) -> bool:
        for name, want in where.items():
            got = getattr(r, name)
            if isinstance(want, tuple) and not isinstance(got, tuple):
                if got not in want:
                    return False
            elif got != want:
                return False
        return True
    return [r for r in records if keep(r)]


@dataclass(eq=False)  # compared and hashed by identity: one object per loaded track
class Evidence:
    """All records of one evidence track, indexed for paired look-ups."""

    track: str  # "published" | "tiny" | "paper"
    records: list[Record]
    inputs: list[dict] = field(default_factory=list)  # [{"path":…, "sha256":…}]
    source: dict = field(default_factory=dict)  # data source, commit, …
    warnings: list[str] = field(default_factory=list)
    # topology -> model key, and model key -> {role: condition name} (see loraplace.study)
    models: dict = field(default_factory=dict)
    roles: dict = field(default_factory=dict)
    # model key -> {"topology": …, "mixer": "gdn" | "mamba2"}: every model's cell of the mixer ×
    # topology factorial (the tiny track has four; `models` names the study's pair among them)
    cells: dict = field(default_factory=dict)
    # model key -> the condition set its condition names come from ("study" | "harmonized")
    condition_sets: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._index: dict[tuple, dict[int, dict[str, float]]] = {}
        for r in self.records:
            key = (r.model, r.scorer, r.condition, r.domain, r.benchmark)
            self._index.setdefault(key, {}).setdefault(r.seed, {})[r.item_key] = r.score

    def scores(self, model: str, scorer: str, condition: str, domain: str, benchmark: str) -> dict[int, dict[str, float]]:
        """{seed: {item_key: score}} of one run family; a clear error when there is none."""
        key = (model, scorer, condition, domain, benchmark)
        try:
            return self._index[key]
        except KeyError:
            have = sorted({k[2:] for k in self._index if k[:2] == (model, scorer)})
            raise NoData(f"No {self.track} records for model={model} scorer={scorer} condition={condition} "
                         f"domain={domain} benchmark={benchmark}", str(have), of="condition, domain, benchmark") from None

    def model(self, topology: str, mixer: str | None = None) -> str:
        """The model playing `topology` (mixer None: the study's model of that topology; else the
        model with that recurrent mixer in that topology, a cell of the factorial)."""
        if mixer is None:
            try:
                return self.models[topology]
            except KeyError:
                raise NoData(f"No {self.track} model for topology {topology!r}", ', '.join(self.models)) from None
        for key, cell in self.cells.items():
            if (cell["topology"], cell["mixer"]) == (topology, mixer):
                return key
        have = [f"{c['topology']} × {c['mixer']}" for c in self.cells.values()]
        raise NoData(f"No {self.track} model for {topology} × {mixer}", ', '.join(have) or 'none')

    def condition(self, model: str, role: str) -> str:
        """The run's condition name for a role ("attention", "recurrent", "full", …, or "base")."""
        if role == BASE:
            return BASE
        try:
            return self.roles[model][role]
        except KeyError:
            have = ", ".join(f"{r} ({c})" for r, c in self.roles.get(model, {}).items()) or "none"
            raise NoData(f"{model} has no run of {describe_role(role)} (role {role!r}) in the {self.track} track",
                         have, of="its runs by role") from None

    def condition_label(self, model: str, role: str) -> str:
        """The condition name for display, with the condition set it comes from (`placement.qualified`:
        the same name means different modules in different sets)."""
        from loraplace.models.placement import qualified

        name = self.condition(model, role)
        return name if role == BASE else qualified(name, self.condition_sets.get(model))

    def has(self, model: str, scorer: str, condition: str, domain: str, benchmark: str) -> bool:
        return (model, scorer, condition, domain, benchmark) in self._index

    def keys(self) -> list[tuple]:
        """(model, scorer, condition, domain, benchmark) of every run family."""
        return sorted(self._index)


@dataclass(frozen=True)
class Run:
    """What every record of one evaluated model carries."""

    model: str
    topology: str
    condition: str
    domain: str
    seed: int

    def record(self, item, score: float, scorer: str, extra: dict) -> Record:
        """The record of `item` (anything with `.benchmark` and `.key`, the question's item_key)."""
        return Record(self.model, self.topology, self.condition, self.domain, self.seed, item.benchmark,
                      item.key, float(score), scorer, extra)
