"""Roofline figures per cell: arithmetic, and a real NLP-1 run of datarax against the probe."""

import json
import math

import numpy as np
import pytest

from adapters import Adapter
from bench.report.profiling_charts import ceilings as report_ceilings
from bench.roofline import input_bytes_per_element, roofline_metrics, step_cost
from bench.runner import run_profile
from bench.profile import load_profile
from bench.store import load_records

MEASURED = {"elements_per_s": 1000.0, "batches_per_s": 10.0, "bytes_per_batch": 400}
CEILINGS = {"memory_bytes_per_s": 24_000.0, "peak_flops_per_s": 1e6}


def test_bytes_moved_and_fractions_of_the_ceilings():
    m = roofline_metrics(MEASURED, batch_size=100, input_bytes=8, cost={"flops": 1000.0, "bytes_accessed": 500.0},
                         ceilings=CEILINGS)
    assert (m["input_bytes_per_element"], m["output_bytes_per_element"], m["moved_bytes_per_element"]) == (8, 4, 12)
    assert m["moved_bytes_per_s"] == 12_000 and m["copy_ceiling_fraction"] == 0.5
    assert m["flops_per_s"] == 10_000 and m["arithmetic_intensity"] == 2.0
    assert m["attainable_flops_per_s"] == 48_000  # memory-bound: 2 FLOP/byte x 24 kB/s < 1 MFLOP/s
    assert m["roofline_fraction"] == pytest.approx(10_000 / 48_000)
    compute_bound = roofline_metrics(MEASURED, batch_size=100, input_bytes=8,
                                     cost={"flops": 1e6, "bytes_accessed": 10.0}, ceilings=CEILINGS)
    assert compute_bound["attainable_flops_per_s"] == 1e6


def test_absent_cost_or_ceilings_are_said_not_guessed():
    class Plain(Adapter):
        name = "plain"

        def version(self):
            return "0"

        def open(self, job):
            return iter(())

    m = roofline_metrics(MEASURED, batch_size=100, input_bytes=8, cost=step_cost(Plain(), None), ceilings=None)
    assert m["copy_ceiling_fraction"] is None and "flops_per_s" not in m
    assert m["xla_cost_absent"] == "plain exposes no compiled step (step_cost) to analyse"

    class Broken(Plain):
        def step_cost(self, job):
            raise RuntimeError("no backend")

    assert step_cost(Broken(), None) == "the cost analysis failed: RuntimeError: no backend"
    pure_gather = roofline_metrics(MEASURED, batch_size=100, input_bytes=8,
                                   cost={"flops": 0.0, "bytes_accessed": 500.0}, ceilings=CEILINGS)
    assert pure_gather["arithmetic_intensity"] == 0 and pure_gather["roofline_fraction"] is None


@pytest.fixture(scope="module")
def nlp_run(tmp_path_factory):
    profile = load_profile("ci_cpu")
    profile = profile.with_overrides(adapters=("datarax", "numpy"), warmup_batches=2, batches=10, repetitions=2,
                                     cells=tuple(c for c in profile.cells if c.scenario == "NLP-1"))
    run_dir = run_profile(profile, tmp_path_factory.mktemp("runs"))
    records, problems = load_records(run_dir / "results.jsonl")
    assert not problems
    return json.loads((run_dir / "run.json").read_text()), {r["adapter"]: r for r in records}


def test_nlp1_datarax_reports_bytes_per_second_against_the_copy_ceiling(nlp_run):
    info, records = nlp_run
    ceilings = info["ceilings"]
    assert report_ceilings(info) == {k: ceilings[k] for k in ("peak_flops_per_s", "memory_bytes_per_s")}
    m = records["datarax"]["metrics"]
    seq = 128
    assert m["input_bytes_per_element"] == (seq + 1) * 4  # one int32 window of L+1 tokens read
    assert m["output_bytes_per_element"] == 2 * seq * 4  # inputs and targets written
    assert m["moved_bytes_per_s"] == pytest.approx(m["moved_bytes_per_element"] * m["elements_per_s"])
    assert m["copy_ceiling_fraction"] == pytest.approx(m["moved_bytes_per_s"] / ceilings["memory_bytes_per_s"])
    assert 0 < m["copy_ceiling_fraction"] < 2
    # A pure gather: XLA's step moves bytes and computes (almost) nothing.
    assert m["xla_bytes_accessed_per_batch"] >= 64 * 2 * seq * 4
    assert m["xla_flops_per_batch"] <= 64 * seq
    print(f"NLP-1/small datarax: {m['moved_bytes_per_s'] / 1e6:,.1f} MB/s moved = "
          f"{m['copy_ceiling_fraction']:.2%} of the {ceilings['memory_bytes_per_s'] / 1e9:.1f} GB/s copy ceiling")


def test_datarax_records_where_its_time_goes(nlp_run):
    _, records = nlp_run
    stages = records["datarax"]["metrics"]["stage_s_per_batch"]
    # Frozen stages: the producer gathers and dispatches each chunk's step inline in next().
    assert set(stages) == {"gather", "dispatch"}
    assert all(v > 0 and math.isfinite(v) for v in stages.values())
    # Both run inside next(), so together they fit inside a batch's latency.
    m = records["datarax"]["metrics"]
    assert stages["gather"] + stages["dispatch"] <= m["latency_mean_s"] * 1.5
    numpy = records["numpy"]["metrics"]
    assert "stage_s_per_batch" not in numpy and "numpy" in numpy["xla_cost_absent"]
    assert numpy["copy_ceiling_fraction"] > 0
    assert "stall_fraction" not in numpy  # no consumer step unless asked for


def test_input_bytes_count_a_ragged_field_by_its_average_record():
    fixed = {"tokens": np.zeros((10, 129), np.int32)}
    assert input_bytes_per_element(fixed, 10) == 129 * 4
    ragged = {"tokens": np.zeros(1000, np.int32), "offsets": np.zeros(11, np.int64)}  # 100 tokens per record
    assert input_bytes_per_element(ragged, 10) == (1000 * 4 + 11 * 8) / 10
