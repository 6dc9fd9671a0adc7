"""binary_masks_full: OpenCV resizes give the reference's masks up to its stated rounding bound."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from samlabel.sam.fast.mask_upscale import binary_masks_full, upscale_error_bound
from samlabel.sam.sam1.resizer import longest_side_shape, upscale_full


def _logits(seed, k=3, noise=0.3):
    g = torch.Generator().manual_seed(seed)
    smooth = F.interpolate(torch.randn(1, k, 16, 16, generator=g) * 8, (256, 256), mode="bicubic", align_corners=False)
    return smooth + torch.randn(1, k, 256, 256, generator=g) * noise


@pytest.mark.parametrize("size", [(1080, 1920), (1920, 1080), (600, 900), (333, 777), (100, 3000), (7, 5), (2000, 2000)])
@pytest.mark.parametrize("threshold", [0.0, 0.7])
def test_binary_masks_equal_the_reference_up_to_the_rounding_bound(size, threshold):
    low = _logits(sum(size))
    input_size = longest_side_shape(*size, 1024)
    logits = upscale_full(low, 1024, input_size, size)  # the reference's values, bit for bit
    expected = (logits > threshold).numpy()
    got = binary_masks_full(low, 1024, input_size, size, threshold)
    assert got.dtype == np.bool_ and got.shape == expected.shape == (1, 3, *size)
    assert 0.05 < expected.mean() < 0.95  # both sides present: the comparison is not vacuous
    differ = got != expected
    rows = -(-input_size[0] // 4) + 1
    cols = -(-input_size[1] // 4) + 1
    bound = max(upscale_error_bound(low[0, i, :rows, :cols].numpy(), input_size) for i in range(3))
    assert bound < 2e-3
    # a pixel may only differ where the reference's logit is within the bound of the threshold
    assert np.all(np.abs(logits.numpy()[differ] - threshold) <= bound)
    assert differ.mean() <= 1e-5


def test_binary_masks_shapes_and_the_scale_one_path():
    low = _logits(1, k=2)[0]  # (2, 256, 256): any leading shape
    got = binary_masks_full(low, 1024, (1024, 683), (1024, 683))  # no second resize: reference path
    assert got.shape == (2, 1024, 683)
    assert np.array_equal(got, (upscale_full(low[None], 1024, (1024, 683), (1024, 683))[0] > 0).numpy())
    single = binary_masks_full(low[0], 1024, (576, 1024), (1080, 1920))
    assert single.shape == (1080, 1920)


@pytest.fixture(scope="module")
def tiny_predictor_with_image(small_pair, make_image):
    from samlabel.sam import SamPredictor

    predictor = SamPredictor(small_pair[1])
    predictor.set_image(make_image(300, 500, seed=3))
    return predictor


def test_predictor_masks_use_the_fast_path_and_agree_with_the_logits(tiny_predictor_with_image):
    predictor = tiny_predictor_with_image
    h, w = predictor.original_size
    masks, scores, low = predictor.predict(np.array([[w * 0.4, h * 0.6]]), np.array([1]))
    logits, _, _ = predictor.predict(np.array([[w * 0.4, h * 0.6]]), np.array([1]), return_logits=True)
    assert masks.shape == logits.shape
    differ = masks != (logits > predictor.model.mask_threshold)
    assert np.all(np.abs(logits[differ]) <= 2e-3)
    tm, _, _ = predictor.predict_torch(torch.as_tensor(predictor.transform.scale_points(
        np.array([[[w * 0.4, h * 0.6]]]), (h, w)), dtype=torch.float), torch.tensor([[1]]))
    assert tm.dtype == torch.bool and np.array_equal(tm[0].numpy(), masks)
