"""Configs and strict checkpoint loading of the SAM 2 image models."""

from __future__ import annotations

import re

import pytest
import torch

from samlabel.sam.errors import CheckpointError
from samlabel.sam.modeling.sam2 import build_sam2, get_sam2_config, sam2_config_names
from samlabel.sam.modeling.sam2.build import build_sam2_model


def test_registry_names_and_urls():
    names = sam2_config_names()
    for size in ("tiny", "small", "base_plus", "large"):
        for family, date in (("sam2.1", "092824"), ("sam2", "072824")):
            name = f"{family}_hiera_{size}"
            assert name in names
            cfg = get_sam2_config(name)
            assert cfg.checkpoint_url == f"https://dl.fbaipublicfiles.com/segment_anything_2/{date}/{name}.pt"
            assert re.fullmatch(r"[0-9a-f]{64}", cfg.checkpoint_sha256), name  # two public sources, see config.py
            assert cfg.checkpoint_size > 100_000_000, name
    assert get_sam2_config("sam2.1_hiera_b+") is get_sam2_config("sam2.1_hiera_base_plus")
    assert get_sam2_config("sam2_hiera_t") is get_sam2_config("sam2_hiera_tiny")
    with pytest.raises(ValueError, match="sam2.1_hiera_tiny"):
        get_sam2_config("sam2.1_hiera_huge")


@pytest.mark.parametrize("name", ["sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus", "sam2.1_hiera_large",
                                  "sam2_hiera_tiny", "sam2_hiera_small", "sam2_hiera_base_plus", "sam2_hiera_large"])
def test_config_equals_reference_yaml(sam2_helpers, name):
    """Hyperparameters equal the package's YAML (as hydra composes it, with build_sam2's
    post-processing overrides), and our module tree has the reference's image-model keys
    and shapes, exactly."""
    from hydra import compose
    from omegaconf import OmegaConf
    from sam2.build_sam import build_sam2 as ref_build_sam2

    cfg_file = sam2_helpers.REFERENCE_CONFIGS[name]
    y = compose(config_name=cfg_file)
    OmegaConf.resolve(y)
    m = y.model
    ours = get_sam2_config(name)
    import inspect

    from sam2.modeling.backbones.hieradet import Hiera as RefHiera

    defaults = {k: v.default for k, v in inspect.signature(RefHiera.__init__).parameters.items()}
    trunk = {**defaults, **OmegaConf.to_container(m.image_encoder.trunk)}  # the YAML leaves some at Hiera's defaults
    for field in ("embed_dim", "num_heads", "stages", "global_att_blocks", "window_pos_embed_bkg_spatial_size",
                  "window_spec", "q_pool", "q_stride", "dim_mul", "head_mul"):
        value = getattr(ours.trunk, field)
        assert (list(value) if isinstance(value, tuple) else value) == (
            list(trunk[field]) if isinstance(trunk[field], (list, tuple)) else trunk[field]), field
    assert list(ours.trunk.channel_list) == list(m.image_encoder.neck.backbone_channel_list)
    assert ours.neck.d_model == m.image_encoder.neck.d_model
    assert list(ours.neck.fpn_top_down_levels) == list(m.image_encoder.neck.fpn_top_down_levels)
    assert ours.neck.fpn_interp_model == m.image_encoder.neck.fpn_interp_model
    assert ours.neck.scalp == m.image_encoder.scalp
    assert ours.image_size == m.image_size
    assert ours.use_high_res_features_in_sam == m.use_high_res_features_in_sam
    assert ours.directly_add_no_mem_embed == m.directly_add_no_mem_embed
    d = ours.decoder
    assert d.iou_prediction_use_sigmoid == m.iou_prediction_use_sigmoid
    assert d.pred_obj_scores == m.pred_obj_scores and d.pred_obj_scores_mlp == m.pred_obj_scores_mlp
    assert d.use_multimask_token_for_obj_ptr == m.use_multimask_token_for_obj_ptr

    ref = ref_build_sam2(cfg_file, ckpt_path=None, device="cpu")
    dec = ref.sam_mask_decoder
    assert (d.dynamic_multimask_via_stability, d.dynamic_multimask_stability_delta, d.dynamic_multimask_stability_thresh) == (
        dec.dynamic_multimask_via_stability, dec.dynamic_multimask_stability_delta, dec.dynamic_multimask_stability_thresh)
    image_parts = ("image_encoder.", "sam_prompt_encoder.", "sam_mask_decoder.", "no_mem_embed")
    ref_shapes = {k: tuple(v.shape) for k, v in ref.state_dict().items() if k.startswith(image_parts)}
    our_shapes = {k: tuple(v.shape) for k, v in build_sam2_model(ours).state_dict().items()}
    assert our_shapes == ref_shapes


def _edited(small_pair, tmp_path, edit, wrap=True):
    ref, _, _ = small_pair
    sd = dict(ref.state_dict())
    edit(sd)
    path = tmp_path / "edited.pt"
    torch.save({"model": sd} if wrap else sd, path)
    return path


def test_bare_state_dict_loads(small_pair, sam2_helpers, tmp_path):
    path = _edited(small_pair, tmp_path, lambda sd: None, wrap=False)
    model = build_sam2(sam2_helpers.small_config(), checkpoint=path)
    assert not model.training
    assert model.ignored_keys == small_pair[1].ignored_keys


def test_missing_key_names_file_and_key(small_pair, sam2_helpers, tmp_path):
    path = _edited(small_pair, tmp_path, lambda sd: sd.pop("sam_mask_decoder.conv_s0.weight"))
    with pytest.raises(CheckpointError) as info:
        build_sam2(sam2_helpers.small_config(), checkpoint=path)
    assert str(path) in str(info.value) and "missing keys: sam_mask_decoder.conv_s0.weight" in str(info.value)


def test_missing_no_mem_embed(small_pair, sam2_helpers, tmp_path):
    path = _edited(small_pair, tmp_path, lambda sd: sd.pop("no_mem_embed"))
    with pytest.raises(CheckpointError, match="no_mem_embed"):
        build_sam2(sam2_helpers.small_config(), checkpoint=path)


def test_wrong_shape_names_file_and_key(small_pair, sam2_helpers, tmp_path):
    def edit(sd):
        sd["image_encoder.trunk.pos_embed"] = torch.zeros(1, 16, 14, 14)

    path = _edited(small_pair, tmp_path, edit)
    with pytest.raises(CheckpointError) as info:
        build_sam2(sam2_helpers.small_config(), checkpoint=path)
    msg = str(info.value)
    assert str(path) in msg and "image_encoder.trunk.pos_embed (expected (1, 16, 7, 7), found (1, 16, 14, 14))" in msg


def test_unexpected_key_is_an_error(small_pair, sam2_helpers, tmp_path):
    def edit(sd):
        sd["sam_mask_decoder.extra_head.weight"] = torch.zeros(3)

    path = _edited(small_pair, tmp_path, edit)
    with pytest.raises(CheckpointError, match=r"unexpected keys: sam_mask_decoder\.extra_head\.weight"):
        build_sam2(sam2_helpers.small_config(), checkpoint=path)


def test_other_model_size_is_refused(small_pair, tmp_path):
    """The small random checkpoint is not a sam2.1_hiera_tiny checkpoint."""
    _, _, path = small_pair
    with pytest.raises(CheckpointError) as info:
        build_sam2("sam2.1_hiera_tiny", checkpoint=path)
    assert str(path) in str(info.value) and "shape mismatch" in str(info.value)


def test_truncated_and_garbage_files(small_pair, sam2_helpers, tmp_path):
    _, _, path = small_pair
    data = path.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint" * 100)
    for bad in (truncated, garbage):
        with pytest.raises(CheckpointError) as info:
            build_sam2(sam2_helpers.small_config(), checkpoint=bad)
        assert str(bad) in str(info.value)
    with pytest.raises(CheckpointError, match="does not exist"):
        build_sam2(sam2_helpers.small_config(), checkpoint=tmp_path / "nowhere.pt")


def test_unrelated_state_dict_is_refused(sam2_helpers, tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"model": {"fc.weight": torch.zeros(2, 2)}}, path)
    with pytest.raises(CheckpointError, match="not a SAM 2 checkpoint"):
        build_sam2(sam2_helpers.small_config(), checkpoint=path)


def test_sam2_0_checkpoint_loads_with_its_video_keys_listed(sam2_helpers, tmp_path):
    """A SAM 2.0 checkpoint (fewer video modules) loads into the same image model."""
    ref = sam2_helpers.build_reference("configs/sam2/sam2_hiera_t.yaml", sam2_helpers.SMALL_OVERRIDES, seed=3)
    path = tmp_path / "sam2_small.pt"
    sam2_helpers.save_official(ref, path)
    ours = build_sam2(sam2_helpers.small_config(), checkpoint=path)
    image_parts = ("image_encoder.", "sam_prompt_encoder.", "sam_mask_decoder.", "no_mem_embed")
    assert ours.ignored_keys == sorted(k for k in ref.state_dict() if not k.startswith(image_parts))
    assert "no_obj_embed_spatial" not in ours.ignored_keys
