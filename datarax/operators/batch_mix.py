"""``BatchMixOperator``: MixUp and CutMix, mixing each record with its neighbour in the batch.

Record ``i`` is mixed with record ``i - 1`` (cyclically) with weight ``λ ~ Beta(alpha, alpha)``;
labels are mixed with the same ``λ`` (integer labels become one-hot over ``num_classes``).
``λ`` is drawn per record from the record's key, or once per batch from a key of all the
batch's record ids, so a batch's mixing depends on which records it holds, not on its position.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from datarax.core.config import check_bool, check_choice, check_field, check_int, check_number
from datarax.core.module import OperatorConfig, OperatorModule, fmix32


@dataclasses.dataclass(frozen=True, kw_only=True)
class BatchMixConfig(OperatorConfig):
    """Attributes:
      mode: ``"mixup"`` (blend whole images) or ``"cutmix"`` (paste a box of area ``1 - λ``).
      alpha: Beta concentration of ``λ``.
      per_element: one ``λ`` per record, else one per batch.
      image_field, label_field: the fields mixed; ``num_classes`` one-hot encodes int labels.
    """

    mode: str = "mixup"
    alpha: float = 0.2
    per_element: bool = False
    image_field: str
    label_field: str
    num_classes: int
    stochastic: bool = True
    stream_name: str | None = "mix"

    def __post_init__(self):
        super().__post_init__()
        check_choice("mode", self.mode, ("mixup", "cutmix"))
        check_number("alpha", self.alpha, low=1e-6)
        check_bool("per_element", self.per_element)
        check_field("image_field", self.image_field)
        check_field("label_field", self.label_field)
        check_int("num_classes", self.num_classes, minimum=2)
        if not self.stochastic:
            raise ValueError("BatchMixConfig draws λ at random: stochastic must be True")


class BatchMixOperator(OperatorModule):
    """MixUp or CutMix (``config.mode``) of each record with the previous one in its batch."""

    def __init__(self, config: BatchMixConfig, *, rngs: nnx.Rngs):
        super().__init__(config, rngs=rngs)

    def _keys(self, record_ids, epoch):
        if self.config.per_element:
            return self.record_keys(record_ids, epoch)
        words = fmix32(record_ids.astype(jnp.uint32))
        batch_id = jax.lax.reduce(words, jnp.uint32(0), jnp.bitwise_xor, (0,))
        return jnp.repeat(self.record_keys(batch_id[None], epoch), record_ids.shape[0], axis=0)

    def apply_batch(self, batch, record_ids, epoch):
        c = self.config
        for field in (c.image_field, c.label_field):
            if field not in batch:
                raise KeyError(f"BatchMixOperator: no field {field!r}; the batch has {sorted(batch)}")
        image = batch[c.image_field].astype(jnp.float32)
        label = batch[c.label_field]
        if jnp.issubdtype(label.dtype, jnp.integer):
            label = jax.nn.one_hot(label, c.num_classes)
        keys = self._keys(record_ids, epoch)
        lam = jax.vmap(lambda k: jax.random.beta(k, c.alpha, c.alpha))(keys)
        other_image, other_label = jnp.roll(image, 1, axis=0), jnp.roll(label, 1, axis=0)
        if c.mode == "mixup":
            shape = lam.shape + (1,) * (image.ndim - 1)
            mixed = lam.reshape(shape) * image + (1 - lam.reshape(shape)) * other_image
        else:
            mask, lam = jax.vmap(self._box, in_axes=(0, 0, None))(keys, lam, image.shape[1:3])
            mask = mask.reshape(mask.shape + (1,) * (image.ndim - 3))
            mixed = jnp.where(mask, other_image, image)
        lam_l = lam.reshape(lam.shape + (1,) * (label.ndim - 1))
        return {**batch, c.image_field: mixed, c.label_field: lam_l * label + (1 - lam_l) * other_label}

    @staticmethod
    def _box(key, lam, size):
        """A box of area about ``1 - λ`` at a random centre, and λ corrected to its area."""
        h, w = size
        cy, cx = jax.random.uniform(jax.random.fold_in(key, 1), (2,)) * jnp.asarray([h, w])
        half = jnp.sqrt(1.0 - lam) * jnp.asarray([h, w]) / 2
        rows, cols = jnp.arange(h)[:, None] + 0.5, jnp.arange(w)[None, :] + 0.5
        mask = (jnp.abs(rows - cy) < half[0]) & (jnp.abs(cols - cx) < half[1])
        return mask, 1.0 - jnp.mean(mask.astype(jnp.float32))


# The ``<Operator>Config`` name the ``datarax`` CLI looks up.
BatchMixOperatorConfig = BatchMixConfig
