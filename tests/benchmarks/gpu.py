"""The `fit` command on nutpie's default numba backend (CPU) against its JAX backend.

Issue 15, item 6. Simulates a gaussian case survey (``alliance-learning simulate
--design``: the example study's design with a continuous outcome, 5 conditions, 5 networks
of 8-12 respondents per alliance, no missing codes) of each size asked, then runs
``alliance-learning fit --backend numba`` and ``--backend jax`` on it, each as its own
process (process start to run written, as a user meets it), and prints per backend:

- wall time of the whole command, and min bulk ESS over every parameter of the saved
  posterior per second of it (min ESS/s);
- peak memory: the command's max RSS (``ru_maxrss`` from ``os.wait4``) and, where
  ``nvidia-smi`` exists, the GPU memory in use, polled every 0.2 s (JAX's preallocation
  is turned off, ``XLA_PYTHON_CLIENT_PREALLOCATE=false``, so this is what it uses);
- the device: the CPU model for numba, ``jax.devices()[0]`` for jax (a GPU when the
  installed jax has one: ``pip install "jax[cuda12]"``; else jax runs on the CPU).

And one target line per size (protocol of tests/benchmarks/targets.py): the two backends'
posterior means of the effects ``b`` agree within 4 Monte Carlo standard errors (of the
difference). A speed-up is printed, not judged: the issue sets no figure for it.

The default sizes are the issue's, 190,000 and 1,000,000 respondents, at the toolkit's
default sampling (4 x 2000 draws, 1000 tuning steps): on a GPU machine. Run::

    nice -n 10 .venv/bin/python tests/benchmarks/gpu.py                      # 190k and 1M
    .venv/bin/python tests/benchmarks/gpu.py --respondents 500 --draws 300 --tune 300  # smoke run
    .venv/bin/python tests/benchmarks/gpu.py --respondents 190000 --backends jax       # GPU only
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("alliance-learning"))
GIB = 2**30
CONDITIONS = ("personal_contact", "shared_interests", "joint_activity", "receptivity",
              "prior_cooperation")
OUTCOME = "learning_score"
RESPONDENTS_PER_ALLIANCE = 48  # 5 networks of 8-12 respondents
Z = 4.0


def write_inputs(folder: Path, respondents: int) -> dict:
    """Write the codebook (default + a continuous outcome), the design and the model config."""
    import tomli_w

    sys.path.insert(0, str(ROOT))
    from data import load_codebook

    codebook = load_codebook().to_dict()
    codebook["outcomes"][OUTCOME] = {"level": "individual", "scale": "continuous",
                                     "label": "simulated continuous learning score"}
    design = {"alliances": max(2, round(respondents / RESPONDENTS_PER_ALLIANCE)), "networks": [5, 5],
              "people": [8, 12], "conditions": list(CONDITIONS), "family": "gaussian",
              "outcome": OUTCOME, "alliance_outcome": "", "intercept": 0.2, "sigma": 1.0,
              "missing_rate": 0.0}
    config = {"model": {"outcome": OUTCOME, "family": "gaussian", "conditions": list(CONDITIONS),
                        "group_effects": ["alliance"]}}
    paths = {name: folder / f"{name}.toml" for name in ("codebook", "design", "config")}
    paths["data"] = folder / "survey.parquet"
    for name, content in (("codebook", codebook), ("design", design), ("config", config)):
        paths[name].write_text(tomli_w.dumps(content), encoding="utf-8")
    return paths


def gpu_memory_used() -> int | None:
    """Bytes of GPU memory in use (all GPUs), or None without nvidia-smi."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10).stdout
        return sum(int(line) for line in out.split()) * 2**20
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def measure(command: list[str], log: Path, env: dict) -> dict:
    """Run ``command``: wall time, exit code, max RSS and peak GPU memory above the start."""
    base = gpu_memory_used()
    peak = {"gpu": 0}
    done = threading.Event()

    def poll():
        while not done.wait(0.2):
            used = gpu_memory_used()
            if used is not None and base is not None:
                peak["gpu"] = max(peak["gpu"], used - base)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    done.set()
    poller.join()
    return {"seconds": seconds, "rc": os.waitstatus_to_exitcode(status),
            "max_rss": usage.ru_maxrss * 1024, "gpu": peak["gpu"] if base is not None else None,
            "load": os.getloadavg()[1]}


def device(backend: str, env: dict) -> str:
    """The device the backend computes on."""
    if backend == "jax":
        out = subprocess.run([sys.executable, "-c", "import jax; d = jax.devices()[0]; "
                              "print(f'jax {d.platform}: {d.device_kind}')"],
                             capture_output=True, text=True, env=env)
        return out.stdout.strip() or f"jax unavailable ({out.stderr.strip().splitlines()[-1:]})"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return f"cpu: {line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    return "cpu"


def posterior(run_dir: Path):
    import xarray as xr

    return xr.open_dataset(run_dir / "posterior.nc", group="posterior", engine="h5netcdf").load()


def case(respondents: int, folder: Path, args) -> list[str]:
    """Simulate one survey, fit it with each backend; return the target lines."""
    import arviz as az

    folder.mkdir(parents=True, exist_ok=True)
    paths = write_inputs(folder, respondents)
    env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    simulated = measure([CLI, "simulate", "--design", str(paths["design"]), "--codebook",
                         str(paths["codebook"]), "--out", str(paths["data"]), "--seed", "1"],
                        folder / "simulate.log", env)
    if simulated["rc"] != 0:
        sys.exit(f"simulate failed, see {folder / 'simulate.log'}")
    import pandas as pd

    n = len(pd.read_parquet(paths["data"], columns=[]))
    fits = {}
    for backend in args.backends:
        run_dir = folder / f"run-{backend}"
        command = [CLI, "fit", str(paths["data"]), "--out", str(run_dir), "--codebook",
                   str(paths["codebook"]), "--config", str(paths["config"]), "--no-progress",
                   "--backend", backend, "--chains", str(args.chains), "--draws", str(args.draws),
                   "--tune", str(args.tune), "--seed", str(args.seed), "--force"]
        print(f"{n:,} respondents, {backend}: {args.chains} x {args.draws} draws ...", flush=True)
        result = measure(command, folder / f"fit-{backend}.log", env)
        if result["rc"] != 0:
            print(f"  exit code {result['rc']}: see {folder / f'fit-{backend}.log'}")
            continue
        draws = posterior(run_dir)
        ess = float(az.ess(draws, method="bulk").to_array().min())
        fits[backend] = draws
        gpu = "n/a" if result["gpu"] is None else f"{result['gpu'] / GIB:.2f} GiB"
        print(f"  {backend:5} | {device(backend, env)} | wall {result['seconds']:.1f} s | "
              f"min bulk ESS {ess:.0f} | min ESS/s {ess / result['seconds']:.1f} | "
              f"peak RSS {result['max_rss'] / GIB:.2f} GiB | GPU memory {gpu} | load {result['load']:.1f}",
              flush=True)
        fits[backend + "_seconds"] = result["seconds"]
    lines = []
    if {"numba", "jax"} <= set(fits):
        a, b = fits["numba"]["b"], fits["jax"]["b"]
        mcse = np.hypot(az.mcse(a.to_dataset(), method="mean")["b"].values,
                        az.mcse(b.to_dataset(), method="mean")["b"].values)
        z = float(np.max(np.abs((a.mean(("chain", "draw")) - b.mean(("chain", "draw"))).values) / mcse))
        print(f"  jax / numba wall time: {fits['jax_seconds'] / fits['numba_seconds']:.2f}")
        lines.append(f"TARGET | 15.6 | {n:,} respondents: jax backend's posterior means of b vs numba's "
                     f"| max |difference| / MCSE = {z:.2f} | <= {Z:.0f} | {'met' if z <= Z else 'NOT met'}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--respondents", default="190000,1000000",
                        help="survey sizes, comma separated (default: 190000,1000000)")
    parser.add_argument("--backends", default="numba,jax", type=lambda s: s.split(","),
                        help="backends to time (default: numba,jax)")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="keep the surveys and runs in this folder")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="gpu-benchmark-"))
    lines = []
    try:
        for size in (int(s) for s in args.respondents.split(",") if s.strip()):
            lines += case(size, folder / str(size), args)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
