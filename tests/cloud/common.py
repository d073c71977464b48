"""Facts the sky and docker checks compare against: shipped profiles and pyproject extras."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from bench.profile import load_profile, shipped_profiles

ROOT = Path(__file__).resolve().parents[2]
# Words that look like a profile name: <backend>_<something> or <something>_<backend>.
PROFILE_WORD = re.compile(r"\b((?:cpu|gpu|tpu)_[a-z0-9]+|[a-z0-9]+_(?:cpu|gpu|tpu))\b")


def extras() -> set[str]:
    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])


def profiles_named(text: str) -> set[str]:
    return set(PROFILE_WORD.findall(text))


def assert_profiles_shipped(names: set[str], backend: str, where: str) -> None:
    assert names, f"{where} names no profile"
    unknown = names - set(shipped_profiles())
    assert not unknown, f"{where} names profile(s) {sorted(unknown)} that are not shipped: {shipped_profiles()}"
    for name in names:
        assert load_profile(name).backend == backend, f"{where}: profile {name} is not a {backend} profile"
