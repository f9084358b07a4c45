#!/usr/bin/env python3
"""Nabla's benchmark runner: the workloads W1-W9 against the peer suite, in one session.

    python3 bench/run.py --backend cpu --quick \
        --peers PEERS_DIR/peers.py --python PEERS_VENV/bin/python

One command:
  1. builds `nabla` in release (`cargo build --release -p nabla-cli`; `--no-build` skips);
  2. runs each `bench/w*.nbl` script, in a fresh process per size, with
     NABLA_TIMEIT_JSON set, and reads the records `timeit` appends and the `check ...`
     line each script prints;
  3. runs the peers (NumPy, numexpr, Numba, JAX, Dask) through the peer suite's
     `peers.py`, one fresh interpreter per (case, peer), at the same sizes;
  4. times `nabla run` of a one-line script (median of 10 process runs);
  5. joins everything on the case name ("W2 n=10000000", "W8 n=1024 float32", ...) and
     writes the ratio tables into docs/PERFORMANCE.md between markers, with the machine
     description and the exact command.

Raw JSON lines go to bench/results/<stamp>-<backend>-<mode>/ (ignored by git).
Only the Python standard library is used here; the peers run in their own venv
(`--python`). Without `--peers` only Nabla is measured.
"""
import argparse
import datetime
import json
import os
import platform
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DOC = os.path.join(ROOT, "docs", "PERFORMANCE.md")

# (script, sizes for the full run, sizes for --quick). The script's own size (the line
# `let n = ...  # bench-size`) is its full size; other sizes are run from a generated copy.
SCRIPTS = [
    ("w1_input.nbl", [10_000_000, 100_000_000], [1_000_000]),
    ("w1_gen.nbl", [10_000_000, 100_000_000], [1_000_000]),
    ("w2.nbl", [10_000_000], [1_000_000]),
    ("w3.nbl", [10_000_000], [1_000_000]),
    ("w4.nbl", [None], [None]),            # 1000 x 100 against 1000 x 100, fixed (as the peers)
    ("w5.nbl", [10_000_000], [1_000_000]),
    ("w6.nbl", [100_000], [20_000]),
    ("w7.nbl", [10_000], [10_000]),
    ("w8.nbl", [1024, 2048], [256]),
]
STARTUP_SCRIPT = "w9_startup.nbl"

# Peers measured by --quick: the ones the targets name, plus a NumPy (W4: SciPy) baseline.
QUICK_PEERS = {
    "W1": ["numpy", "numba-par", "jax"],
    "W2": ["numpy", "numexpr2", "numba-par", "jax"],
    "W3": ["numpy", "numba-par", "jax"],
    "W4": ["scipy", "jax", "jax-gemm"],
    "W5": ["numpy", "numba-par", "jax"],
    "W6": ["numpy", "jax"],
    "W7": ["numpy", "jax"],
    "W8": ["numpy", "jax"],
}

# The targets: Nabla's median <= factor x the peer's median (the fastest of
# `peers` when there are several). W8's "speed >= 0.9x NumPy" is time <= NumPy / 0.9.
TARGETS = [
    ("W1", "gen", ["numba-par"], 0.5, "≤ 0.5× numba-par"),
    ("W2", "", ["numba-par"], 0.5, "≤ 0.5× numba-par"),
    ("W2", "", ["numexpr2"], 0.5, "≤ 0.5× numexpr"),
    ("W3", "", ["numba-par"], 0.5, "≤ 0.5× numba-par"),
    ("W3", "", ["jax"], 0.25, "≤ 0.25× JAX"),
    ("W4", "", ["jax", "jax-gemm"], 1.0, "≤ JAX best"),
    ("W5", "", ["numba-par"], 1.0, "≤ numba-par"),
    ("W6", "", ["jax"], 0.8, "≤ 0.8× JAX"),
    ("W7", "", ["jax"], 0.6, "≤ 0.6× JAX"),
    ("W8", "", ["numpy"], 1 / 0.9, "speed ≥ 0.9× NumPy"),
]
W9_FIRST_CALL_SLACK_S = 0.010     # first call <= steady median + 10 ms (W2, W6)
W9_STARTUP_S = 0.015              # `nabla run` of a one-line script <= 15 ms wall
STARTUP_RUNS = 10
# A first call happens once per process, so one process gives one sample of it: W9's
# first calls are measured in this many processes (the workload's own run included),
# and the median of their excesses over each process's steady median is compared.
FIRST_CALL_PROCESSES = 5
FIRST_CALL_WORKLOADS = ("W2", "W6")

LABEL_RE = re.compile(r"^(W\d+)(?: (input|gen))? n=(\d+)(?: (float32|float64))?$")
CHECK_RE = re.compile(r"^check (?P<label>[^:]+): .*\bok (?P<ok>True|False)\s*$")
SIZE_RE = re.compile(r"^(let n = )([0-9_]+)(\s*# bench-size)", re.M)


def now():
    return time.perf_counter()


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


# ----------------------------------------------------------------------------- machine load

def cpu_jiffies():
    f = [int(v) for v in open("/proc/stat").readline().split()[1:]]
    idle = f[3] + f[4]
    total = sum(f[:8])
    return total - idle, total


def wait_quiet(max_wait, thresh=0.12, interval=0.5, need=3):
    """Wait (at most max_wait s) until the machine is nearly idle for `need` samples."""
    t0 = now()
    good = 0
    frac = 1.0
    while max_wait > 0:
        b0, t0_ = cpu_jiffies()
        time.sleep(interval)
        b1, t1_ = cpu_jiffies()
        frac = (b1 - b0) / max(1, t1_ - t0_)
        good = good + 1 if frac < thresh else 0
        if good >= need or now() - t0 > max_wait:
            break
    return now() - t0


def quietest(args, what, run, load_of):
    """Runs a case; while other processes took more than `--retry-load` of the CPUs,
    runs it again (at most `--retries` times) and keeps the quietest attempt. Peers and
    Nabla get the same rule, so a ratio never compares a retried side with an unlucky one
    for that reason alone."""
    best = run()
    attempts = 1
    while load_of(best) > args.retry_load and attempts <= args.retries:
        log(f"    {what}: other processes took {load_of(best):.0%} of the CPUs; measuring again")
        again = run()
        attempts += 1
        if load_of(again) < load_of(best):
            best = again
    return best, attempts


def run_measured(cmd, env, timeout):
    """Run cmd; return (CompletedProcess or None, wall s, share of all CPUs used by other
    processes while it ran)."""
    hz = os.sysconf("SC_CLK_TCK")
    ncpu = os.cpu_count() or 1
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    b0, _ = cpu_jiffies()
    t0 = now()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        r = subprocess.CompletedProcess(cmd, 124, e.stdout or "", f"timed out after {timeout} s")
    wall = now() - t0
    b1, _ = cpu_jiffies()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    foreign = min(1.0, max(0.0, ((b1 - b0) / hz - own) / (wall * ncpu)))
    return r, wall, foreign


# ----------------------------------------------------------------------------- cases

def case_key(workload, variant="", n=None, dtype=""):
    return (workload, variant or "", int(n) if n is not None else None, dtype or "")


def key_of_label(label):
    m = LABEL_RE.match(label.strip())
    if not m:
        return None
    return case_key(m.group(1), m.group(2), m.group(3), m.group(4))


def key_name(k):
    w, v, n, dt = k
    return " ".join(x for x in (w, v, f"n={n}", dt) if x)


def key_of_peer(rec):
    return case_key(rec.get("workload"), rec.get("variant", ""), rec.get("n"), rec.get("dtype", ""))


def sized_script(path, size, dest_dir):
    """A copy of the script with its `# bench-size` line (and the `n=...` in its labels
    and check lines) set to `size`; the script itself when size is None or its own."""
    text = open(path).read()
    m = SIZE_RE.search(text)
    if size is None or m is None:
        return path
    default = int(m.group(2).replace("_", ""))
    if size == default:
        return path
    text = SIZE_RE.sub(lambda mm: f"{mm.group(1)}{size}{mm.group(3)}", text, count=1)
    text = re.sub(rf"\bn={default}\b", f"n={size}", text)
    out = os.path.join(dest_dir, f"{os.path.splitext(os.path.basename(path))[0]}_n{size}.nbl")
    with open(out, "w") as f:
        f.write(text)
    return out


# ----------------------------------------------------------------------------- runners

def build(args):
    log("building: cargo build --release -p nabla-cli")
    r = subprocess.run(["cargo", "build", "--release", "-p", "nabla-cli"], cwd=ROOT)
    if r.returncode != 0:
        sys.exit("cargo build failed")


def nabla_bin(args):
    if args.nabla:
        return os.path.abspath(args.nabla)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "release", "nabla")


def run_nabla_script(args, exe, script, out_dir):
    fd, jpath = tempfile.mkstemp(prefix="timeit-", suffix=".jsonl", dir=out_dir)
    os.close(fd)
    env = dict(os.environ, NABLA_TIMEIT_JSON=jpath)
    waited = wait_quiet(args.max_wait)
    r, wall, foreign = run_measured([exe, "run", "--backend", args.backend, script], env, args.timeout)
    recs = [json.loads(l) for l in open(jpath) if l.strip()]
    os.remove(jpath)
    checks = {}
    for line in r.stdout.splitlines():
        m = CHECK_RE.match(line.strip())
        if m:
            checks[m.group("label").strip()] = {"ok": m.group("ok") == "True", "line": line.strip()}
    out = []
    for rec in recs:
        k = key_of_label(rec.get("label", ""))
        rec.update({"runner": f"nabla-{args.backend}", "script": os.path.basename(script),
                    "key": list(k) if k else None, "exit": r.returncode,
                    "foreign_cpu": round(foreign, 3), "idle_wait_s": round(waited, 1),
                    "wall_s": round(wall, 3)})
        rec["check"] = checks.get(rec["label"], {"ok": False, "why": "no check line printed"})
        out.append(rec)
    if r.returncode != 0 or not recs:
        out.append({"runner": f"nabla-{args.backend}", "script": os.path.basename(script),
                    "exit": r.returncode, "error": (r.stderr or r.stdout)[-2000:],
                    "foreign_cpu": round(foreign, 3), "wall_s": round(wall, 3)})
    for line in r.stdout.splitlines():
        if line.startswith("timeit ") or line.startswith("check "):
            log("    " + line)
    if r.returncode != 0:
        log("    ERROR: " + (r.stderr or "")[-800:])
    return out


def list_peers(args):
    r = subprocess.run([args.python, args.peers, "list"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("peers.py list failed:\n" + r.stderr)
    peers = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if parts and parts[0].startswith("W"):
            peers[parts[0]] = parts[1:]
    return peers


def run_peer(args, k, peer):
    w, v, n, dt = k
    cmd = [w, "--n", str(n), "--peer", peer]
    if v:
        cmd += ["--variant", v]
    if dt:
        cmd += ["--dtype", dt]
    env = dict(os.environ)
    if peer == "numexpr1":       # single-threaded throughout, as the peer suite runs it
        env["OPENBLAS_NUM_THREADS"] = "1"
        env["NUMEXPR_NUM_THREADS"] = "1"
    waited = wait_quiet(args.max_wait)
    r, wall, foreign = run_measured([args.python, args.peers] + cmd, env, args.timeout)
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if r.returncode != 0 or not lines:
        rec = {"workload": w, "peer": peer, "cmd": cmd, "error": (r.stderr or "")[-2000:]}
    else:
        rec = json.loads(lines[-1])
        rec["cmd"] = cmd
    rec.update({"runner": peer, "key": list(k), "foreign_cpu": round(foreign, 3),
                "idle_wait_s": round(waited, 1), "wall_s": round(wall, 3)})
    rec.pop("times_s", None)
    return rec


def run_startup(args, exe):
    script = os.path.join(HERE, STARTUP_SCRIPT)
    cmd = [exe, "run", "--backend", args.backend, script]
    wait_quiet(args.max_wait)
    subprocess.run(cmd, capture_output=True)          # warm the page cache
    ts, foreign = [], []
    ok = True
    for _ in range(STARTUP_RUNS):
        r, wall, fo = run_measured(cmd, dict(os.environ), 60)
        ok = ok and r.returncode == 0 and r.stdout.strip() == "2"
        ts.append(wall)
        foreign.append(fo)
    return {"runner": f"nabla-{args.backend}", "workload": "W9-startup",
            "what": f"nabla run --backend {args.backend} bench/{STARTUP_SCRIPT}",
            "median_s": statistics.median(ts), "min_s": min(ts), "runs": len(ts),
            "times_s": [round(t, 5) for t in ts], "ok": ok,
            "foreign_cpu": round(max(foreign), 3)}


def run_first_calls(args, exe, scripts, out_dir):
    """Runs each W9 first-call script in more fresh processes (the workload's own run
    is the first of `--first-call-processes`); returns their records."""
    recs = []
    for path in scripts:
        for _ in range(max(0, args.first_call_processes - 1)):
            recs += [r for r in run_nabla_script(args, exe, path, out_dir) if r.get("key")]
    return recs


def first_call_excesses(nabla, extra, k):
    """First call minus steady median, one per process that ran case `k`."""
    return [r["first_call_s"] - r["median_s"] for r in nabla + extra
            if r.get("key") and tuple(r["key"]) == k and "median_s" in r]


def run_peer_imports(args):
    r = subprocess.run([args.python, args.peers, "imports", "--reps", "5"],
                       capture_output=True, text=True, timeout=args.timeout)
    return [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]


# ----------------------------------------------------------------------------- description

def sh(cmd, cwd=None):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd).stdout.strip()
    except OSError:
        return ""


def machine_info(args):
    d = {}
    try:
        blocks = [b for b in open("/proc/cpuinfo").read().split("\n\n") if b.strip()]
        kv = {}
        for l in blocks[0].splitlines():
            if ":" in l:
                a, b = l.split(":", 1)
                kv[a.strip()] = b.strip()
        d["cpu"] = kv.get("model name", "?")
        d["logical_cpus"] = len(blocks)
        d["llc"] = kv.get("cache size", "?")
        flags = kv.get("flags", "").split()
        d["simd"] = " ".join(f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512vl",
                                         "avx512_bf16", "amx_tile") if f in flags)
    except OSError:
        d["cpu"] = platform.processor() or "?"
        d["logical_cpus"] = os.cpu_count()
    try:
        d["mem_gb"] = round(int(open("/proc/meminfo").readline().split()[1]) / 1e6, 1)
    except (OSError, ValueError, IndexError):
        d["mem_gb"] = None
    d["os"] = f"{platform.system()} {platform.release()}"
    d["rustc"] = sh(["rustc", "--version"])
    commit = sh(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT)
    dirty = sh(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT)
    d["commit"] = commit + (" with uncommitted changes" if dirty else "")
    if args.peers:
        code = ("import platform, numpy, numexpr, numba, jax, scipy\n"
                "try:\n import dask; dv = dask.__version__\nexcept Exception: dv = '-'\n"
                "print(platform.python_version(), numpy.__version__, numexpr.__version__,"
                " numba.__version__, jax.__version__, scipy.__version__, dv)")
        v = sh([args.python, "-c", code]).split()
        if len(v) == 7:
            d["peers"] = (f"Python {v[0]}, NumPy {v[1]}, numexpr {v[2]}, Numba {v[3]}, "
                          f"JAX {v[4]} (x64 on, CPU), SciPy {v[5]}, Dask {v[6]}")
    return d


def display_command(argv):
    """The command as run, with paths outside the repository replaced by placeholders."""
    out = ["python3", "bench/run.py"]
    raw = set()
    subst = {"--peers": "$PEERS_DIR/peers.py", "--python": "$PEERS_VENV/bin/python"}
    i = 0
    while i < len(argv):
        a = argv[i]
        name, eq, val = a.partition("=")
        if name in subst or name in ("--out-dir", "--nabla", "--docs"):
            if not eq:
                i += 1
                val = argv[i] if i < len(argv) else ""
            if name in subst:
                val = subst[name]
                raw.add(len(out) + 1)
            else:
                p = os.path.abspath(val)
                if p.startswith(ROOT + os.sep):
                    val = os.path.relpath(p, ROOT)
                else:
                    val = "$" + name[2:].upper().replace("-", "_")
                    raw.add(len(out) + 1)
            out += [name, val]
        else:
            out.append(a)
        i += 1
    def q(a):
        if shlex.quote(a) == a or not ("'" in a and not re.search(r'["$`\\!]', a)):
            return shlex.quote(a)
        return '"' + a + '"'
    return " ".join(a if i in raw else q(a) for i, a in enumerate(out))


# ----------------------------------------------------------------------------- report

def fmt_t(t):
    if t is None:
        return "—"
    if t < 0:
        return "−" + fmt_t(-t)
    if t < 1e-3:
        return f"{t * 1e6:.0f} µs"
    if t < 1:
        return f"{t * 1e3:.2f} ms" if t < 0.01 else f"{t * 1e3:.1f} ms"
    return f"{t:.2f} s"


def fmt_r(r):
    if r is None:
        return "—"
    if r >= 100:
        return f"{r:.0f}×"
    if r >= 10:
        return f"{r:.1f}×"
    return f"{r:.2f}×"


def ok_mark(rec):
    if "error" in rec:
        return "error"
    c = rec.get("check")
    if not isinstance(c, dict) or "ok" not in c:
        return "?"
    return "yes" if c["ok"] else "**NO**"


def render(args, info, nabla, peers, startup, imports, cmdline, stamp, out_rel,
           first_calls=()):
    runner = f"nabla-{args.backend}"
    mode = "quick" if args.quick else "full"
    nab = {tuple(r["key"]): r for r in nabla if r.get("key") and "median_s" in r}
    by_case = {}
    for r in peers:
        if "median_s" in r:
            by_case.setdefault(tuple(r["key"]), {})[r["runner"]] = r
    order = list(nab) + [k for k in by_case if k not in nab]
    L = []
    L.append(f"### {args.backend} backend, {mode} sizes\n")
    if args.note:
        L.append(f"> {args.note}\n")
    if args.quick:
        L.append("> Quick sizes are smaller than the workloads' sizes (the targets are set "
                 "at full size): a smoke run of the pipeline, not a measurement of the targets.\n")
    L.append(f"- Run: {stamp} (UTC), all numbers below from this one session; raw JSON lines "
             f"in `{out_rel}/` (not committed).")
    L.append(f"- Command: `{cmdline}`")
    L.append(f"- Machine: {info.get('cpu')}, {info.get('logical_cpus')} logical CPUs, "
             f"LLC {info.get('llc')}, {info.get('mem_gb')} GB RAM, {info.get('os')}; "
             f"SIMD: {info.get('simd', '?')}")
    L.append(f"- Nabla: commit {info.get('commit')}, {info.get('rustc')}, "
             f"`cargo build --release -p nabla-cli`, `nabla run --backend {args.backend}`")
    if info.get("peers"):
        L.append(f"- Peers: {info['peers']}")
    loads = [r.get("foreign_cpu", 0) for r in nabla + peers if "foreign_cpu" in r]
    if loads:
        L.append(f"- Other processes' share of all CPUs during a case: median "
                 f"{statistics.median(loads):.2f}, max {max(loads):.2f} (column `load`)")
    again = {(r.get("runner"), tuple(r.get("key") or ())) for r in nabla + peers
             if r.get("attempts", 1) > 1}
    if again:
        L.append(f"- Measured again because other processes took more than "
                 f"{args.retry_load:.0%} of the CPUs: {len(again)} runner-case pairs (the "
                 f"quietest of at most {args.retries + 1} attempts kept)")
    L.append("")
    if loads and statistics.median(loads) > 0.25:
        L.append(f"> **Contended run:** other processes used a median {statistics.median(loads):.0%} "
                 "of all CPUs while these cases ran, so every number below (Nabla's and the "
                 "peers') is slowed by an unknown factor and the ratios are rough. Run again on an "
                 "idle machine before reading anything into them.\n")

    # targets
    L.append("#### Targets\n")
    L.append("Ratio = Nabla's median ÷ the peer's median (lower is faster); met when the "
             "ratio is at most the bound.\n")
    L.append("| case | target | Nabla median | peer median | Nabla ÷ peer | bound | met |")
    L.append("|---|---|---|---|---|---|---|")
    for (w, v, peers_needed, factor, text) in TARGETS:
        if args.only and w not in args.only.split(","):
            continue
        keys = [k for k in order if k[0] == w and (not v or k[1] == v)]
        if not keys:
            L.append(f"| {w}{' ' + v if v else ''} | {text} | not run | — | — | ≤ {factor:.2f} | — |")
        for k in keys:
            nr = nab.get(k)
            cands = [by_case.get(k, {}).get(p) for p in peers_needed]
            cands = [c for c in cands if c]
            pr = min(cands, key=lambda c: c["median_s"]) if cands else None
            ratio = nr["median_s"] / pr["median_s"] if nr and pr else None
            met = "—" if ratio is None else ("yes" if ratio <= factor else "no")
            if nr and not nr.get("check", {}).get("ok"):
                met += " (check failed)"
            peer_s = f"{fmt_t(pr['median_s'])} ({pr['runner']})" if pr else "not run"
            L.append(f"| {key_name(k)} | {text} | {fmt_t(nr['median_s']) if nr else 'not run'} | "
                     f"{peer_s} | {fmt_r(ratio)} | ≤ {factor:.2f} | {met} |")
    L.append("")

    # W9
    L.append("#### W9: time to first result\n")
    L.append("| measurement | Nabla | target | met |")
    L.append("|---|---|---|---|")
    for w in FIRST_CALL_WORKLOADS:
        for k in [k for k in nab if k[0] == w]:
            r = nab[k]
            xs = first_call_excesses([r], list(first_calls), k)
            extra = statistics.median(xs)
            spread = (f", median of {len(xs)} processes ({fmt_t(min(xs))} to {fmt_t(max(xs))})"
                      if len(xs) > 1 else "")
            L.append(f"| {key_name(k)}: first call − steady median{spread}; the workload's own "
                     f"process: first call {fmt_t(r['first_call_s'])} (trace "
                     f"{fmt_t(r.get('trace_s'))}, compile {fmt_t(r.get('compile_s'))}), steady "
                     f"median {fmt_t(r['median_s'])} | {fmt_t(extra)} | ≤ 10 ms | "
                     f"{'yes' if extra <= W9_FIRST_CALL_SLACK_S else 'no'} |")
    if startup:
        met = "yes" if startup["median_s"] <= W9_STARTUP_S else "no"
        if not startup.get("ok", True):
            met = "no (the script failed)"
        L.append(f"| `nabla run` of a one-line script, wall, median of {startup['runs']} processes "
                 f"(min {fmt_t(startup['min_s'])}) | {fmt_t(startup['median_s'])} | ≤ 15 ms | {met} |")
    L.append("")
    rows = []
    for w in ("W2", "W6"):
        for k, d in by_case.items():
            if k[0] != w:
                continue
            for p, r in sorted(d.items(), key=lambda kv: kv[1]["first_call_s"]):
                rows.append(f"| {key_name(k)} | {p} | {fmt_t(r['first_call_s'])} | "
                            f"{fmt_t(r['median_s'])} | {fmt_t(r['first_call_s'] - r['median_s'])} |")
    if rows:
        L.append("Peers in the same session (first call includes JIT compilation or "
                 "expression parsing, in a process that has already imported the peer):\n")
        L.append("| case | peer | first call | steady median | first − median |")
        L.append("|---|---|---|---|---|")
        L += rows
        L.append("")
    if imports:
        L.append("Peers' process start-up (fresh `python -c`, wall, median of 5):\n")
        L.append("| command | median | min |")
        L.append("|---|---|---|")
        for r in imports:
            L.append(f"| `{r['peer']}` | {fmt_t(r['median_s'])} | {fmt_t(r['min_s'])} |")
        L.append("")

    # everything
    L.append("#### All measurements\n")
    L.append("Median and min over the timed calls; first call timed apart (Nabla: trace and "
             "compile included; peers: JIT compile included). `Nabla ÷ runner` compares "
             "medians. `check`: the result checked against an independent reference.\n")
    L.append("| case | runner | median | min | first call | Nabla ÷ runner | check | load |")
    L.append("|---|---|---|---|---|---|---|---|")
    for k in order:
        nr = nab.get(k)
        rs = ([nr] if nr else []) + sorted(by_case.get(k, {}).values(), key=lambda r: r["median_s"])
        for r in rs:
            ratio = nr["median_s"] / r["median_s"] if nr and r is not nr else None
            L.append(f"| {key_name(k)} | {r['runner']} | {fmt_t(r['median_s'])} | "
                     f"{fmt_t(r.get('min_s'))} | {fmt_t(r.get('first_call_s'))} | "
                     f"{fmt_r(ratio) if ratio else ''} | {ok_mark(r)} | {r.get('foreign_cpu', 0):.2f} |")
    errs = [r for r in nabla + peers if "error" in r]
    if errs:
        L.append("")
        L.append("Failed runs:\n")
        for r in errs:
            what = r.get("script") or " ".join(r.get("cmd", []))
            lines = [l.strip() for l in r["error"].strip().splitlines() if l.strip()]
            errs_ = [l for l in lines if l.lower().startswith(("error", "traceback"))]
            msg = ((errs_[0] if errs_ else "") + " … " + lines[-1] if lines else "")[:300]
            L.append(f"- `{r['runner']}` {what}: {msg}")
    L.append("")
    return "\n".join(L)


def write_doc(path, section_id, body):
    begin = f"<!-- bench:{section_id}:begin -->"
    end = f"<!-- bench:{section_id}:end -->"
    text = open(path).read() if os.path.exists(path) else "# Performance\n"
    block = f"{begin}\n<!-- generated by bench/run.py; do not edit by hand -->\n\n{body}\n{end}"
    if begin in text and end in text:
        a = text.index(begin)
        b = text.index(end) + len(end)
        text = text[:a] + block + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


def report_again(args):
    d = os.path.abspath(args.report)

    def jl(name):
        p = os.path.join(d, name)
        return [json.loads(l) for l in open(p) if l.strip()] if os.path.exists(p) else []
    meta = json.load(open(os.path.join(d, "info.json")))
    nabla, peers, st = jl("nabla.jsonl"), jl("peers.jsonl"), jl("startup.jsonl")
    startup = next((r for r in st if r.get("workload") == "W9-startup"), None)
    imports = [r for r in st if r.get("workload") == "W9-import"]
    first_calls = jl("firstcall.jsonl")
    args.backend, args.quick = meta["backend"], meta["mode"] == "quick"
    args.note = meta.get("note") or args.note
    args.only = meta.get("only") or args.only
    out_rel = os.path.relpath(d, ROOT) if d.startswith(ROOT + os.sep) else "$OUT_DIR"
    body = render(args, meta["machine"], nabla, peers, startup, imports, meta["command"],
                  meta["stamp"], out_rel, first_calls)
    with open(os.path.join(d, "tables.md"), "w") as f:
        f.write(body)
    if args.no_docs:
        print(body)
    else:
        write_doc(args.docs, f"{args.backend}-{meta['mode']}", body)
        log(f"tables written to {os.path.relpath(args.docs, ROOT)} (section {args.backend}-{meta['mode']})")
    return 0


# ----------------------------------------------------------------------------- main

def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="cpu", help="cpu | interp | gpu (default cpu)")
    ap.add_argument("--quick", action="store_true",
                    help="smaller sizes and only the peers the targets name (a smoke run)")
    ap.add_argument("--peers", default=os.environ.get("NABLA_BENCH_PEERS"),
                    help="the peer suite's peers.py (or env NABLA_BENCH_PEERS); "
                         "without it only Nabla runs")
    ap.add_argument("--python", default=os.environ.get("NABLA_BENCH_PYTHON", "python3"),
                    help="the Python of the peers' venv (or env NABLA_BENCH_PYTHON)")
    ap.add_argument("--only", default=None,
                    help="comma list of workloads, e.g. W2,W6 (W9 start-up always runs)")
    ap.add_argument("--peer-list", default=None,
                    help="comma list of peers to run instead of the default set")
    ap.add_argument("--first-call-processes", type=int, default=None, metavar="N",
                    help=f"W9: processes whose first calls of W2 and W6 are measured, the "
                         f"workloads' own runs included (default {FIRST_CALL_PROCESSES}, "
                         f"1 with --quick)")
    ap.add_argument("--no-build", action="store_true", help="use the existing release binary")
    ap.add_argument("--nabla", default=None, help="the nabla binary (implies --no-build)")
    ap.add_argument("--max-wait", type=float, default=None,
                    help="before each case, wait up to this many s for an idle machine "
                         "(default 10 with --quick, 60 otherwise)")
    ap.add_argument("--retry-load", type=float, default=0.25, metavar="SHARE",
                    help="measure a case again when other processes took more than this "
                         "share of the CPUs while it ran (default 0.25)")
    ap.add_argument("--retries", type=int, default=2,
                    help="at most this many repeats per case under --retry-load (default 2)")
    ap.add_argument("--timeout", type=float, default=None,
                    help="per-process limit in s (default 900 with --quick, 3600 otherwise)")
    ap.add_argument("--out-dir", default=None, help="raw results (default bench/results/STAMP-BACKEND-MODE)")
    ap.add_argument("--docs", default=DOC, help="the page to write the tables into")
    ap.add_argument("--no-docs", action="store_true", help="print the tables, leave the page alone")
    ap.add_argument("--note", default=None, help="a line quoted at the top of the results section")
    ap.add_argument("--report", default=None, metavar="DIR",
                    help="measure nothing: write the tables again from a results folder")
    args = ap.parse_args(argv)
    if args.report:
        return report_again(args)
    if args.max_wait is None:
        args.max_wait = 10.0 if args.quick else 60.0
    if args.first_call_processes is None:
        args.first_call_processes = 1 if args.quick else FIRST_CALL_PROCESSES
    if args.timeout is None:
        args.timeout = 900.0 if args.quick else 3600.0
    if args.peers:
        args.peers = os.path.abspath(args.peers)
        if not os.path.exists(args.peers):
            sys.exit(f"--peers: no such file: {args.peers}")
    mode = "quick" if args.quick else "full"
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    out_dir = args.out_dir or os.path.join(
        HERE, "results", datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")
        + f"-{args.backend}-{mode}")
    out_dir = os.path.abspath(out_dir)
    os.makedirs(os.path.join(out_dir, "scripts"), exist_ok=True)
    out_rel = os.path.relpath(out_dir, ROOT) if out_dir.startswith(ROOT + os.sep) else "$OUT_DIR"

    if not args.nabla and not args.no_build:
        build(args)
    exe = nabla_bin(args)
    if not os.path.exists(exe):
        sys.exit(f"no nabla binary at {exe} (build it, or pass --nabla)")

    only = set(args.only.split(",")) if args.only else None
    peer_sets = {}
    if args.peers:
        listed = list_peers(args)
        for w, ps in listed.items():
            if args.peer_list:
                want = args.peer_list.split(",")
            elif args.quick:
                want = QUICK_PEERS.get(w, [])
            else:
                want = ps
            peer_sets[w] = [p for p in ps if p in want]

    nabla, peers = [], []
    first_call_scripts = []
    fn = open(os.path.join(out_dir, "nabla.jsonl"), "w")
    fp = open(os.path.join(out_dir, "peers.jsonl"), "w")
    t_all = now()
    for script, full, quick in SCRIPTS:
        w = "W" + re.match(r"w(\d+)", script).group(1)
        if only and w not in only:
            continue
        for size in (quick if args.quick else full):
            path = sized_script(os.path.join(HERE, script), size, os.path.join(out_dir, "scripts"))
            log(f"[{now() - t_all:6.0f}s] nabla {args.backend}: {os.path.relpath(path, ROOT) if path.startswith(ROOT) else os.path.basename(path)}")
            recs, attempts = quietest(
                args, os.path.basename(path), lambda: run_nabla_script(args, exe, path, out_dir),
                lambda rs: max((r.get("foreign_cpu", 0) for r in rs), default=0))
            for r in recs:
                r["attempts"] = attempts
            if w in FIRST_CALL_WORKLOADS:
                first_call_scripts.append(path)
            for r in recs:
                nabla.append(r)
                fn.write(json.dumps(r) + "\n")
            fn.flush()
            keys = [tuple(r["key"]) for r in recs if r.get("key")]
            if not keys and size is not None:   # the script failed: still run the peers
                keys = [case_key(w, "input" if "input" in script else "gen" if "gen" in script else "", size)]
            for k in keys:
                for p in peer_sets.get(w, []):
                    r, attempts = quietest(args, f"{key_name(k)} {p}", lambda: run_peer(args, k, p),
                                           lambda r: r.get("foreign_cpu", 0))
                    r["attempts"] = attempts
                    log(f"[{now() - t_all:6.0f}s]   {key_name(k)} {p}: "
                        + (fmt_t(r["median_s"]) if "median_s" in r else "ERROR " + r.get("error", "")[-300:]))
                    peers.append(r)
                    fp.write(json.dumps(r) + "\n")
                    fp.flush()
    fn.close()
    fp.close()

    if first_call_scripts and args.first_call_processes > 1:
        log(f"[{now() - t_all:6.0f}s] W9 first calls: {args.first_call_processes - 1} more "
            f"processes of {', '.join(os.path.basename(p) for p in first_call_scripts)}")
    first_calls = run_first_calls(args, exe, first_call_scripts, out_dir)
    with open(os.path.join(out_dir, "firstcall.jsonl"), "w") as f:
        for r in first_calls:
            f.write(json.dumps(r) + "\n")
    log(f"[{now() - t_all:6.0f}s] W9 start-up: nabla run x {STARTUP_RUNS}")
    startup = run_startup(args, exe)
    imports = run_peer_imports(args) if args.peers else []
    with open(os.path.join(out_dir, "startup.jsonl"), "w") as f:
        for r in [startup] + imports:
            f.write(json.dumps(r) + "\n")
    log(f"    nabla run one-line: median {fmt_t(startup['median_s'])}, min {fmt_t(startup['min_s'])}")

    info = machine_info(args)
    cmdline = display_command(argv)
    body = render(args, info, nabla, peers, startup, imports, cmdline, stamp, out_rel,
                  first_calls)
    with open(os.path.join(out_dir, "tables.md"), "w") as f:
        f.write(body)
    with open(os.path.join(out_dir, "info.json"), "w") as f:
        json.dump({"machine": info, "command": cmdline, "stamp": stamp,
                   "backend": args.backend, "mode": mode, "note": args.note,
                   "only": args.only}, f, indent=1)
    if args.no_docs:
        print(body)
    else:
        write_doc(args.docs, f"{args.backend}-{mode}", body)
        log(f"tables written to {os.path.relpath(args.docs, ROOT)} (section {args.backend}-{mode})")
    log(f"done in {now() - t_all:.0f} s; raw results in {out_dir}")
    bad = [r for r in nabla if "error" in r or not r.get("check", {}).get("ok", True)]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
