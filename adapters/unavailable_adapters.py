"""Loaders the comparison names but cannot run on this environment, each with the reason.

They are listed (``datarax-bench list adapters``) and every cell of theirs is recorded as
unavailable with the reason, so a reader sees they were considered, not forgotten. The reasons
were checked on the CPU environment of ``requirements/cpu-constraints.txt``.
"""

from __future__ import annotations

from typing import ClassVar, Iterator

from adapters.base import Job, LibraryAdapter


class _Unavailable(LibraryAdapter):
    reason: ClassVar[str]

    def available(self) -> str | None:
        return self.reason

    def open(self, job: Job) -> Iterator[dict]:
        raise RuntimeError(f"{self.name} is unavailable: {self.reason}")


class MosaicStreamingAdapter(_Unavailable):
    name, library = "mosaic", "streaming"
    distribution = "mosaicml-streaming"
    reason = (
        "mosaicml-streaming 0.13.0 pins numpy<2.2 (installing it downgrades this environment's "
        "numpy 2.4.6) and its import fails beside CPU-only torch: "
        "'operator torchvision::nms does not exist'"
    )


class FfcvAdapter(_Unavailable):
    name = library = "ffcv"
    distribution = "ffcv"
    reason = (
        "ffcv 1.0.2 (its last release, 2023) ships only an sdist whose build needs system OpenCV 4 "
        "and libjpeg-turbo found by pkg-config: 'Could not find required package: opencv4'"
    )


class EnergonAdapter(_Unavailable):
    name, library = "energon", "megatron.energon"
    distribution = "megatron-energon"
    reason = (
        "megatron-energon 7.4.1 needs s3fs, whose current release pins fsspec 2026.9 and (through "
        "aiobotocore) botocore 1.43, against datasets 5.0.1 (fsspec<=2026.6) and litdata's boto3 "
        "1.44; resolved together, pip falls back to s3fs 0.4.2 from 2020"
    )
