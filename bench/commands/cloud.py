"""``datarax-bench cloud launch``: run the benchmark on a cloud machine with SkyPilot.

Wraps ``sky launch sky/<target>.yaml`` from the repository root (the task's workdir); the
``multihost`` target is a cluster of 2 GPU nodes that runs DIST-3 across them. The W&B
key is handed over as ``--secret WANDB_API_KEY`` — by name, so SkyPilot reads its value from
this process's environment: it never appears on a command line, in a file or in a log.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from bench.commands.common import EXIT_BAD_INPUT

REPO_ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("cpu", "gpu", "tpu", "multihost")
BACKENDS = {"cpu": "cpu", "gpu": "gpu", "tpu": "tpu", "multihost": "gpu"}  # the backend of a target's profiles
GPU_TARGETS = ("gpu", "multihost")
SECRETS = ("WANDB_API_KEY",)


def register(sub) -> None:
    cloud = sub.add_parser("cloud", help="run the benchmark on a cloud GPU/TPU/CPU machine (SkyPilot)",
                           description="Run datarax-bench on cloud machines with SkyPilot (sky/*.yaml).")
    actions = cloud.add_subparsers(dest="action", required=True, metavar="ACTION")
    launch = actions.add_parser(
        "launch", help="sky launch the task file for a target",
        description=(
            "Launch sky/<target>.yaml: set up the repository's environment on a cloud machine, run "
            "the target's profile, write the report and copy the run folder into a bucket. "
            "WANDB_API_KEY, when set here, is passed as a SkyPilot secret and the run is exported to W&B."
        ),
    )
    launch.add_argument("--target", required=True, choices=TARGETS,
                        help="machine kind: cpu (cpu_full), gpu (A100/H100), tpu (v5e), multihost (2 GPU nodes, DIST-3 across them)")
    launch.add_argument("--cluster", help="cluster name (default: datarax-<target>)")
    launch.add_argument(
        "--bucket", default=os.environ.get("DATARAX_RESULTS_BUCKET") or _default_bucket(),
        help="bucket that receives the run folder (default: $DATARAX_RESULTS_BUCKET or datarax-bench-<user>)",
    )
    launch.add_argument("--profile", help="profile to run instead of the target's (must be for the same backend)")
    launch.add_argument("--gpus", help="gpu and multihost targets: one GPU type instead of 'A100 or H100', e.g. H100:1")
    launch.add_argument("--down", action="store_true", help="tear the cluster down when the run ends")
    launch.add_argument("--idle-minutes", type=int, help="stop the cluster after this many idle minutes")
    launch.add_argument("--yes", "-y", action="store_true", help="do not ask sky for confirmation")
    launch.add_argument("--dryrun", action="store_true", help="print the sky command and exit; nothing is launched")
    launch.set_defaults(handler=_launch)


def _default_bucket() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "user"
    return "datarax-bench-" + (re.sub(r"[^a-z0-9-]+", "-", user.lower()).strip("-") or "user")


class LaunchError(ValueError):
    """A launch request that cannot work; the message names the bad value and the valid ones."""


def launch_command(args: argparse.Namespace, environ: dict[str, str]) -> list[str]:
    """The ``sky launch`` argv for ``args``; values of secrets are never part of it."""
    from bench.profile import ProfileError, load_profile

    task = REPO_ROOT / "sky" / f"{args.target}.yaml"
    if not task.is_file():
        raise LaunchError(f"{task} not found: cloud launches need a clone of the repository (pip install -e .)")
    if args.gpus and args.target not in GPU_TARGETS:
        raise LaunchError(f"--gpus {args.gpus!r} applies to --target {' or '.join(GPU_TARGETS)} only, not {args.target!r}")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", args.bucket or ""):
        raise LaunchError(f"bucket name {args.bucket!r}: use 3-63 lowercase letters, digits, '-' or '.'")
    argv = ["sky", "launch", "--cluster", args.cluster or f"datarax-{args.target}", str(task.relative_to(REPO_ROOT))]
    argv += ["--env", f"DATARAX_RESULTS_BUCKET={args.bucket}"]
    if args.profile:
        try:
            profile = load_profile(args.profile)
        except ProfileError as e:
            raise LaunchError(str(e)) from None
        if profile.backend != BACKENDS[args.target]:
            raise LaunchError(f"profile {args.profile!r} is for backend {profile.backend!r}; --target {args.target!r} "
                              f"runs {BACKENDS[args.target]!r} profiles")
        if args.target == "multihost" and not _runs_across_processes(profile):
            raise LaunchError(f"profile {args.profile!r} has no cell that runs across processes (e.g. DIST-3): "
                              "on --target multihost every node would repeat the same run")
        argv += ["--env", f"DATARAX_PROFILE={args.profile}"]
    for name in SECRETS:
        if environ.get(name):
            argv += ["--secret", name]
    if args.gpus:
        argv += ["--gpus", args.gpus]
    if args.idle_minutes is not None:
        argv += ["--idle-minutes-to-autostop", str(args.idle_minutes)]
    if args.down:
        argv.append("--down")
    if args.yes:
        argv.append("--yes")
    return argv


def _runs_across_processes(profile) -> bool:
    from scenarios import get_scenario
    from scenarios.multiprocess import processes

    return any(processes(get_scenario(c.scenario).variant(v)) > 1 for c in profile.cells for v in c.variants)


def _sky_executable() -> str | None:
    beside_python = Path(sys.executable).parent / "sky"
    return shutil.which("sky") or (str(beside_python) if beside_python.is_file() else None)


def _launch(args: argparse.Namespace, console: Console) -> int:
    try:
        argv = launch_command(args, dict(os.environ))
    except LaunchError as e:
        console.print(f"[red]error:[/red] {e}", soft_wrap=True)
        return EXIT_BAD_INPUT
    passed = [name for name in SECRETS if os.environ.get(name)]
    missing = [name for name in SECRETS if name not in passed]
    if passed:
        console.print(f"secrets passed from the environment by name (values not shown): {', '.join(passed)}")
    if missing:
        console.print(f"not set here, so not passed: {', '.join(missing)} (the run skips the W&B export)")
    command = f"cd {shlex.quote(str(REPO_ROOT))} && {shlex.join(argv)}"
    if args.dryrun:
        console.print(command, soft_wrap=True, markup=False, highlight=False)
        return 0
    sky = _sky_executable()
    if sky is None:
        console.print("[red]error:[/red] SkyPilot is not installed: pip install 'datarax[cloud]'", soft_wrap=True)
        return EXIT_BAD_INPUT
    console.print(command, soft_wrap=True, markup=False, highlight=False)
    return subprocess.run([sky, *argv[1:]], cwd=REPO_ROOT).returncode
