"""Detail restore (worldfm.world.detail): unchanged pixels get the given reference back exactly,
changed ones keep the decoded value, tolerance 0 is a no-op, and bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest

from worldfm.errors import ConfigError
from worldfm.world.detail import check_detail_restore, restore_detail


def frames(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_unchanged_frames_get_the_given_reference_back() -> None:
    decoded_ref, given_ref = frames(0, (2, 8, 8, 3)), frames(1, (2, 8, 8, 3))
    generated = np.repeat(decoded_ref[:, None], 3, axis=1)  # the model kept everything still
    out = restore_detail(generated, decoded_ref, given_ref, 0.1)
    assert out.shape == generated.shape and out.dtype == np.uint8
    assert np.array_equal(out, np.repeat(given_ref[:, None], 3, axis=1))


def test_changed_region_keeps_the_decoded_pixels() -> None:
    decoded_ref = np.full((1, 12, 12, 3), 100, np.uint8)
    given_ref = np.full((1, 12, 12, 3), 110, np.uint8)  # the decoder lost 10 levels everywhere
    generated = np.repeat(decoded_ref[:, None], 2, axis=1).copy()
    generated[0, 1, 3:9, 3:9] = 250  # something moved in, in frame 1
    out = restore_detail(generated, decoded_ref, given_ref, 0.1)
    assert np.array_equal(out[0, 0], given_ref[0])  # frame 0: still, restored
    assert np.all(out[0, 1, 4:8, 4:8] == 250)  # the new object's inside: as decoded
    assert np.all(out[0, 1, :1] == 110) and np.all(out[0, 1, 11:] == 110)  # far from it: restored
    rim = out[0, 1, 3, 3:9].astype(int)  # the 3 x 3 average spreads the change over the rim
    assert np.all((rim >= 250) | (rim <= 110))


def test_correction_weight_falls_with_the_change() -> None:
    decoded_ref = np.full((1, 4, 4, 3), 100, np.uint8)
    given_ref = np.full((1, 4, 4, 3), 150, np.uint8)
    changes = [0, 5, 15, 80]
    generated = np.stack([np.full((4, 4, 3), 100 + c, np.uint8) for c in changes])[None]
    out = restore_detail(generated, decoded_ref, given_ref, 0.1)[0, :, 0, 0, 0].astype(int)
    added = out - (100 + np.array(changes))
    assert added[0] == 50 and np.all(np.diff(added) < 0) and added[-1] == 0
    expected = np.round(100 + np.array(changes) + 50 * np.exp(-((np.array(changes) / 255 / 0.1) ** 2)))
    assert np.array_equal(out, expected)


def test_tolerance_zero_is_the_decoded_frames() -> None:
    generated, ref = frames(2, (1, 3, 8, 8, 3)), frames(3, (1, 8, 8, 3))
    assert restore_detail(generated, ref, frames(4, (1, 8, 8, 3)), 0.0) is generated


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), True, "0.1", None])
def test_bad_tolerance(value: object) -> None:
    with pytest.raises(ConfigError, match="detail_restore must be"):
        check_detail_restore(value)


def test_bad_shapes_and_dtypes() -> None:
    generated, ref = frames(5, (2, 3, 8, 8, 3)), frames(6, (2, 8, 8, 3))
    with pytest.raises(ConfigError, match=r"generated must be \(K, F, H, W, 3\)"):
        restore_detail(generated[0], ref, ref, 0.1)
    with pytest.raises(ConfigError, match=r"decoded_ref must be \(2, 8, 8, 3\)"):
        restore_detail(generated, ref[:1], ref, 0.1)
    with pytest.raises(ConfigError, match=r"given_ref must be \(2, 8, 8, 3\)"):
        restore_detail(generated, ref, ref[:, :4], 0.1)
    with pytest.raises(ConfigError, match="given_ref must be uint8, got float32"):
        restore_detail(generated, ref, ref.astype(np.float32), 0.1)


def test_chunking_does_not_change_the_result() -> None:
    generated, ref, given = frames(7, (2, 9, 8, 8, 3)), frames(8, (2, 8, 8, 3)), frames(9, (2, 8, 8, 3))
    generated[:, ::2] = ref[:, None]  # some frames unchanged, some not
    whole = restore_detail(generated, ref, given, 0.2, chunk_frames=64)
    for chunk in (1, 2, 4):
        assert np.array_equal(restore_detail(generated, ref, given, 0.2, chunk_frames=chunk), whole)
    with pytest.raises(ConfigError, match="chunk_frames must be an integer >= 1, got 0"):
        restore_detail(generated, ref, given, 0.2, chunk_frames=0)
