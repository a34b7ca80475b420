"""How the scorer starts its stdlib-only children (the sandbox's supervisor, the checker, the
reaper): `python -I -S -B -c BOOT` with code objects compiled once per scorer process and sent,
marshalled, on the child's stdin; so no child compiles them again or reads the project's tree."""
from __future__ import annotations

import functools
from pathlib import Path

HERE = Path(__file__).parent

# stdin: a 4-byte big-endian length, then marshal.dumps((main module code, (helper module
# codes...), argument)); BOOT execs the main module and calls its main(helper codes, argument).
# It reads with os.read (no buffering): what follows on stdin is the child's.
BOOT = ("import marshal,os\n"
        "def r(n):\n"
        " b=b''\n"
        " while len(b)<n:\n"
        "  c=os.read(0,n-len(b))\n"
        "  if not c:raise SystemExit(0)\n"
        "  b+=c\n"
        " return b\n"
        "m,h,a=marshal.loads(r(int.from_bytes(r(4),'big')))\n"
        "g={'__name__':'loraplace_child'}\n"
        "exec(m,g)\n"
        "g['main'](h,a)\n")


@functools.lru_cache(maxsize=None)
def code(name: str):
    """The code object of this package's module `name` (e.g. 'worker'), compiled once."""
    path = HERE / f"{name}.py"
    return compile(path.read_text(encoding="utf-8"), str(path), "exec", dont_inherit=True)


def payload(main: str, helpers: tuple, arg) -> bytes:
    """What BOOT reads: the length-prefixed marshal of (main's code, helpers' codes, arg)."""
    import marshal

    data = marshal.dumps((code(main), tuple(code(h) for h in helpers), arg))
    return len(data).to_bytes(4, "big") + data
