import numpy as np
import pytest

from adapters import load_adapter
from scenarios import get_scenario
from tests.scenarios.adapters_under_test import Rewrite, WrongTransforms, first_problem, job_for, replace_param

SCENARIO = get_scenario("NNX-1")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("nnx1")


def test_module_and_function_variants_ask_for_the_same_work():
    for size in ("small", "medium", "large"):
        module, function = SCENARIO.variant(size), SCENARIO.variant(f"{size}-function")
        assert SCENARIO.transforms(module) == SCENARIO.transforms(function)
        assert (module.param("implementation"), function.param("implementation")) == ("module", "function")
    small, small_function = SCENARIO.variant("small"), SCENARIO.variant("small-function")
    assert SCENARIO.generate(small, 0)["image"].tobytes() == SCENARIO.generate(small_function, 0)["image"].tobytes()


@pytest.mark.parametrize("variant", ["small", "small-function"])
def test_datarax_is_conformant_on_both_paths(root, variant):
    assert first_problem(load_adapter("datarax"), job_for("NNX-1", variant, root)) is None


def test_the_function_path_really_runs_a_plain_function_stage(root):
    from adapters.datarax_adapter import _stages
    from datarax.operators import MapOperator
    from datarax.operators.image import Normalize

    kinds = {v: [type(s) for s in _stages(job_for("NNX-1", v, root))] for v in ("small", "small-function")}
    assert kinds == {"small": [Normalize], "small-function": [MapOperator]}


@pytest.mark.parametrize(
    "adapter, message",
    [
        (WrongTransforms(replace_param("normalize", "std", (0.25, 0.25, 0.25))), "differs from the reference"),
        (WrongTransforms(replace_param("normalize", "scale", 1.0)), "leaves the normalized range"),
        (Rewrite(lambda b: {**b, "image": b["image"][:, ::-1].copy()}), "differs from the reference"),
        (Rewrite(lambda b: {**b, "image": b["image"].astype(np.float16)}), "dtype"),
    ],
)
def test_wrong_adapters_are_caught(root, adapter, message):
    assert message in first_problem(adapter, job_for("NNX-1", "small", root))
