"""sky/multihost.sh for real on two stand-in "nodes" of this machine: SkyPilot's node environment
on loopback, each node running the profile as one JAX process of DIST-3, its run folder stored."""

import json
import os
import random
import subprocess
import sys

from bench.store import load_records
from tests.cloud.common import ROOT

PROFILE = """description = "DIST-3 across two stand-in nodes"
backend = "cpu"
cpu_budget = 2
warmup_batches = 1
batches = 3
repetitions = 2
timeout_s = 300
seed = 0
adapters = ["grain"]
[[cells]]
scenario = "DIST-3"
variants = ["small"]
"""


def test_two_nodes_join_one_coordinator_and_store_their_runs(tmp_path):
    profile, bucket = tmp_path / "nodes.toml", tmp_path / "bucket"
    profile.write_text(PROFILE)
    base = {**os.environ, "DATARAX_PROFILE": str(profile), "DATARAX_VENV": sys.prefix, "PYTHONPATH": str(ROOT),
            "DATARAX_RESULTS_DIR": str(bucket), "SKYPILOT_NODE_IPS": "127.0.0.1\n127.0.0.1", "SKYPILOT_NUM_NODES": "2",
            "DATARAX_COORDINATOR_PORT": str(random.randrange(20000, 40000)), "SKYPILOT_TASK_ID": "two-nodes"}
    base.pop("WANDB_API_KEY", None)
    nodes = []
    for rank in (0, 1):
        (tmp_path / f"node{rank}").mkdir()
        nodes.append(subprocess.Popen(
            ["bash", str(ROOT / "sky" / "multihost.sh")], cwd=tmp_path / f"node{rank}",
            env={**base, "SKYPILOT_NODE_RANK": str(rank)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [node.communicate(timeout=540)[0] for node in nodes]
    for node, output in zip(nodes, outputs):
        assert node.returncode == 0, output[-3000:]
    assert "node 1 of 2, coordinator 127.0.0.1:" in outputs[1]
    (head,) = (bucket / "runs").iterdir()
    (other,) = (bucket / "nodes" / "1" / "runs").iterdir()
    records = [load_records(run / "results.jsonl")[0][0] for run in (head, other)]
    for record in records:
        assert record["status"] == "ok", record["reason"]
        out = record["outcomes"]
        assert out["processes"] == 2 and out["devices"] == 4 and out["shards_disjoint"] and out["shards_cover_epoch"]
    # Each node merges every process's samples, gathered: both record the same global figures.
    assert records[0]["metrics"]["elements_per_s"] == records[1]["metrics"]["elements_per_s"]
    specs = [json.loads(path.read_text())
             for rank in (0, 1) for path in (tmp_path / f"node{rank}").glob("results/sky/*/*/cells/*.process?.json")]
    assert [s["job"]["process_index"] for s in specs] == [0, 1] and specs[0]["coordinator"] == specs[1]["coordinator"]
