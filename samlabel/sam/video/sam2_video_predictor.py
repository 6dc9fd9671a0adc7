"""``SAM2VideoPredictor``: Meta's ``sam2.sam2_video_predictor`` API over our SAM 2 video model.

Label one frame, let SAM 2.1 carry every object through the rest::

    predictor = build_sam_video_predictor("sam2.1_hiera_tiny", checkpoint="sam2.1_hiera_tiny.pt")
    state = predictor.init_state("frames/")          # a folder of JPEG frames 0.jpg, 1.jpg ...
    predictor.add_new_points_or_box(state, frame_idx=0, obj_id=1, points=[[210, 350]], labels=[1])
    predictor.add_new_points_or_box(state, frame_idx=0, obj_id=2, box=[300, 0, 500, 400])
    for frame_idx, obj_ids, video_res_masks in predictor.propagate_in_video(state):
        masks = (video_res_masks > 0.0)              # (num_objects, 1, H, W)

Methods, arguments, state layout and outputs are the reference's (``init_state``,
``add_new_points_or_box``, ``add_new_points``, ``add_new_mask``, ``propagate_in_video``,
``propagate_in_video_preflight``, ``clear_all_prompts_in_frame``, ``remove_object``,
``reset_state``). Differences, all on purpose:

- ``add_all_frames_to_correct_as_cond`` defaults to True: a correction click on a tracked
  frame makes it a conditioning frame, so re-propagation keeps it (with the reference's
  default False the click is overwritten by the next propagation; sam2 issues #719, #731).
- ``fill_hole_area`` (default 8, as ``build_sam2_video_predictor`` sets it) is done with OpenCV
  connected components on any device; the reference needs its CUDA extension and silently
  skips the filling without it.
- Frames of a JPEG folder are decoded lazily (on first use, :mod:`samlabel.sam.video.frames`), not all at ``init_state``;
  the pixels are the same.
- The memory attention casts the bf16 memory bank to fp32, so a reverse pass with no
  object pointer in reach does not fail (the reference does, on CPU).
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
import torch.nn.functional as F

from samlabel.sam.modeling.sam2.config import Sam2Config, Sam2VideoConfig, get_sam2_config
from samlabel.sam.modeling.sam2.sam2_video_base import NO_OBJ_SCORE, SAM2VideoBase
from samlabel.sam.video.frames import VideoFrames, fill_holes_in_mask_scores, load_video_frames

__all__ = [
    "SAM2VideoPredictor",
    "SamVideoPredictor",
    "VideoFrames",
    "build_sam_video_predictor",
    "fill_holes_in_mask_scores",
    "load_video_frames",
]

def concat_points(old_point_inputs: Optional[dict], new_points: torch.Tensor, new_labels: torch.Tensor) -> dict:
    if old_point_inputs is None:
        points, labels = new_points, new_labels
    else:
        points = torch.cat([old_point_inputs["point_coords"], new_points], dim=1)
        labels = torch.cat([old_point_inputs["point_labels"], new_labels], dim=1)
    return {"point_coords": points, "point_labels": labels}


class SAM2VideoPredictor(SAM2VideoBase):
    """Handles user prompts and the tracking state of a video (the reference's class)."""

    # The dtype tracked frames' memory features are stored in: bf16, as the reference does
    # (half the memory; SAM 2's numbers depend on it). EdgeTAM's predictor keeps fp32.
    maskmem_dtype: torch.dtype = torch.bfloat16

    def __init__(
        self,
        *args,
        fill_hole_area: int = 8,
        non_overlap_masks: bool = False,
        clear_non_cond_mem_around_input: bool = False,
        add_all_frames_to_correct_as_cond: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fill_hole_area = fill_hole_area
        self.non_overlap_masks = non_overlap_masks
        self.clear_non_cond_mem_around_input = clear_non_cond_mem_around_input
        self.add_all_frames_to_correct_as_cond = add_all_frames_to_correct_as_cond

    @torch.inference_mode()
    def init_state(self, video_path, offload_video_to_cpu: bool = False, offload_state_to_cpu: bool = False,
                   async_loading_frames: bool = False) -> dict:
        """A new inference state for the JPEG frames in ``video_path`` (``async_loading_frames`` is
        accepted for the reference's signature; frames are always decoded on demand)."""
        compute_device = self.device
        images, video_height, video_width = load_video_frames(
            video_path=video_path, image_size=self.image_size, offload_video_to_cpu=offload_video_to_cpu,
            compute_device=compute_device,
        )
        inference_state = {}
        inference_state["images"] = images
        inference_state["num_frames"] = len(images)
        inference_state["offload_video_to_cpu"] = offload_video_to_cpu
        inference_state["offload_state_to_cpu"] = offload_state_to_cpu
        inference_state["video_height"] = video_height
        inference_state["video_width"] = video_width
        inference_state["device"] = compute_device
        inference_state["storage_device"] = torch.device("cpu") if offload_state_to_cpu else compute_device
        inference_state["point_inputs_per_obj"] = {}
        inference_state["mask_inputs_per_obj"] = {}
        inference_state["cached_features"] = {}
        inference_state["constants"] = {}
        inference_state["obj_id_to_idx"] = OrderedDict()
        inference_state["obj_idx_to_id"] = OrderedDict()
        inference_state["obj_ids"] = []
        inference_state["output_dict_per_obj"] = {}
        inference_state["temp_output_dict_per_obj"] = {}
        inference_state["frames_tracked_per_obj"] = {}
        # Warm up the image encoder on frame 0 (where the user most likely clicks first).
        self._get_image_feature(inference_state, frame_idx=0, batch_size=1)
        return inference_state

    # --- object ids --------------------------------------------------------------------------

    def _obj_id_to_idx(self, inference_state: dict, obj_id) -> int:
        obj_idx = inference_state["obj_id_to_idx"].get(obj_id, None)
        if obj_idx is not None:
            return obj_idx
        obj_idx = len(inference_state["obj_id_to_idx"])
        inference_state["obj_id_to_idx"][obj_id] = obj_idx
        inference_state["obj_idx_to_id"][obj_idx] = obj_id
        inference_state["obj_ids"] = list(inference_state["obj_id_to_idx"])
        inference_state["point_inputs_per_obj"][obj_idx] = {}
        inference_state["mask_inputs_per_obj"][obj_idx] = {}
        inference_state["output_dict_per_obj"][obj_idx] = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
        inference_state["temp_output_dict_per_obj"][obj_idx] = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
        inference_state["frames_tracked_per_obj"][obj_idx] = {}
        return obj_idx

    def _obj_idx_to_id(self, inference_state: dict, obj_idx: int):
        return inference_state["obj_idx_to_id"][obj_idx]

    def _get_obj_num(self, inference_state: dict) -> int:
        return len(inference_state["obj_idx_to_id"])

    # --- prompts ---------------------------------------------------------------------------------

    def _check_frame_idx(self, inference_state: dict, frame_idx: int) -> None:
        if not 0 <= frame_idx < inference_state["num_frames"]:
            raise IndexError(f"frame_idx {frame_idx} is outside the video's {inference_state['num_frames']} frames")

    @torch.inference_mode()
    def add_new_points_or_box(self, inference_state: dict, frame_idx: int, obj_id, points=None, labels=None,
                              clear_old_points: bool = True, normalize_coords: bool = True, box=None):
        """Add clicks (``points`` (N, 2) x, y with ``labels`` 1 positive / 0 negative) and/or a
        ``box`` (x0, y0, x1, y1), in video pixels (``normalize_coords``), for ``obj_id`` on a frame.
        Returns ``(frame_idx, obj_ids, video_res_masks (num_objects, 1, H, W) logits)``."""
        self._check_frame_idx(inference_state, frame_idx)
        obj_idx = self._obj_id_to_idx(inference_state, obj_id)
        point_inputs_per_frame = inference_state["point_inputs_per_obj"][obj_idx]
        mask_inputs_per_frame = inference_state["mask_inputs_per_obj"][obj_idx]

        if (points is not None) != (labels is not None):
            raise ValueError("points and labels must be provided together")
        if points is None and box is None:
            raise ValueError("at least one of points or box must be provided as input")
        if points is None:
            points = torch.zeros(0, 2, dtype=torch.float32)
        elif not isinstance(points, torch.Tensor):
            points = torch.tensor(np.asarray(points), dtype=torch.float32)
        if labels is None:
            labels = torch.zeros(0, dtype=torch.int32)
        elif not isinstance(labels, torch.Tensor):
            labels = torch.tensor(np.asarray(labels), dtype=torch.int32)
        if points.dim() == 2:
            points = points.unsqueeze(0)
        if labels.dim() == 1:
            labels = labels.unsqueeze(0)
        if box is not None:
            if not clear_old_points:
                raise ValueError(
                    "cannot add box without clearing old points, since box prompt must be provided before any point "
                    "prompt (please use clear_old_points=True instead)"
                )
            if not isinstance(box, torch.Tensor):
                box = torch.tensor(np.asarray(box), dtype=torch.float32, device=points.device)
            box_coords = box.reshape(1, 2, 2)
            box_labels = torch.tensor([2, 3], dtype=torch.int32, device=labels.device).reshape(1, 2)
            points = torch.cat([box_coords, points], dim=1)
            labels = torch.cat([box_labels, labels], dim=1)

        if normalize_coords:
            video_H = inference_state["video_height"]
            video_W = inference_state["video_width"]
            points = points / torch.tensor([video_W, video_H]).to(points.device)
        points = points * self.image_size
        points = points.to(inference_state["device"])
        labels = labels.to(inference_state["device"])

        point_inputs = point_inputs_per_frame.get(frame_idx, None) if not clear_old_points else None
        point_inputs = concat_points(point_inputs, points, labels)
        point_inputs_per_frame[frame_idx] = point_inputs
        mask_inputs_per_frame.pop(frame_idx, None)
        # An untracked frame is an initial conditioning frame (segmented like SAM, no memory);
        # on a tracked frame the clicks correct the tracked mask.
        obj_frames_tracked = inference_state["frames_tracked_per_obj"][obj_idx]
        is_init_cond_frame = frame_idx not in obj_frames_tracked
        reverse = False if is_init_cond_frame else obj_frames_tracked[frame_idx]["reverse"]
        obj_output_dict = inference_state["output_dict_per_obj"][obj_idx]
        obj_temp_output_dict = inference_state["temp_output_dict_per_obj"][obj_idx]
        is_cond = is_init_cond_frame or self.add_all_frames_to_correct_as_cond
        storage_key = "cond_frame_outputs" if is_cond else "non_cond_frame_outputs"

        # Feed the previous mask logits of this object on this frame along with the new clicks.
        prev_sam_mask_logits = None
        prev_out = obj_temp_output_dict[storage_key].get(frame_idx)
        if prev_out is None:
            prev_out = obj_output_dict["cond_frame_outputs"].get(frame_idx)
            if prev_out is None:
                prev_out = obj_output_dict["non_cond_frame_outputs"].get(frame_idx)
        if prev_out is not None and prev_out["pred_masks"] is not None:
            prev_sam_mask_logits = prev_out["pred_masks"].to(inference_state["device"], non_blocking=True)
            prev_sam_mask_logits = torch.clamp(prev_sam_mask_logits, -32.0, 32.0)
        current_out, _ = self._run_single_frame_inference(
            inference_state=inference_state,
            output_dict=obj_output_dict,
            frame_idx=frame_idx,
            batch_size=1,
            is_init_cond_frame=is_init_cond_frame,
            point_inputs=point_inputs,
            mask_inputs=None,
            reverse=reverse,
            # The memory is encoded when propagation starts (after the user's last click).
            run_mem_encoder=False,
            prev_sam_mask_logits=prev_sam_mask_logits,
        )
        obj_temp_output_dict[storage_key][frame_idx] = current_out

        obj_ids = inference_state["obj_ids"]
        consolidated_out = self._consolidate_temp_output_across_obj(
            inference_state, frame_idx, is_cond=is_cond, consolidate_at_video_res=True
        )
        _, video_res_masks = self._get_orig_video_res_output(inference_state, consolidated_out["pred_masks_video_res"])
        return frame_idx, obj_ids, video_res_masks

    def add_new_points(self, *args, **kwargs):
        """Deprecated: use ``add_new_points_or_box``."""
        return self.add_new_points_or_box(*args, **kwargs)

    @torch.inference_mode()
    def add_new_mask(self, inference_state: dict, frame_idx: int, obj_id, mask):
        """Give ``obj_id`` a mask ``(H, W)`` (bool, any size; resized to the model's) on a frame.
        Returns ``(frame_idx, obj_ids, video_res_masks)``."""
        self._check_frame_idx(inference_state, frame_idx)
        obj_idx = self._obj_id_to_idx(inference_state, obj_id)
        point_inputs_per_frame = inference_state["point_inputs_per_obj"][obj_idx]
        mask_inputs_per_frame = inference_state["mask_inputs_per_obj"][obj_idx]

        if not isinstance(mask, torch.Tensor):
            mask = torch.tensor(np.asarray(mask), dtype=torch.bool)
        assert mask.dim() == 2
        mask_H, mask_W = mask.shape
        mask_inputs_orig = mask[None, None].float().to(inference_state["device"])
        if mask_H != self.image_size or mask_W != self.image_size:
            mask_inputs = F.interpolate(
                mask_inputs_orig, size=(self.image_size, self.image_size), align_corners=False, mode="bilinear", antialias=True
            )
            mask_inputs = (mask_inputs >= 0.5).float()
        else:
            mask_inputs = mask_inputs_orig

        mask_inputs_per_frame[frame_idx] = mask_inputs
        point_inputs_per_frame.pop(frame_idx, None)
        obj_frames_tracked = inference_state["frames_tracked_per_obj"][obj_idx]
        is_init_cond_frame = frame_idx not in obj_frames_tracked
        reverse = False if is_init_cond_frame else obj_frames_tracked[frame_idx]["reverse"]
        obj_output_dict = inference_state["output_dict_per_obj"][obj_idx]
        obj_temp_output_dict = inference_state["temp_output_dict_per_obj"][obj_idx]
        is_cond = is_init_cond_frame or self.add_all_frames_to_correct_as_cond
        storage_key = "cond_frame_outputs" if is_cond else "non_cond_frame_outputs"

        current_out, _ = self._run_single_frame_inference(
            inference_state=inference_state,
            output_dict=obj_output_dict,
            frame_idx=frame_idx,
            batch_size=1,
            is_init_cond_frame=is_init_cond_frame,
            point_inputs=None,
            mask_inputs=mask_inputs,
            reverse=reverse,
            run_mem_encoder=False,
        )
        obj_temp_output_dict[storage_key][frame_idx] = current_out

        obj_ids = inference_state["obj_ids"]
        consolidated_out = self._consolidate_temp_output_across_obj(
            inference_state, frame_idx, is_cond=is_cond, consolidate_at_video_res=True
        )
        _, video_res_masks = self._get_orig_video_res_output(inference_state, consolidated_out["pred_masks_video_res"])
        return frame_idx, obj_ids, video_res_masks

    # --- outputs ---------------------------------------------------------------------------------

    def _get_orig_video_res_output(self, inference_state: dict, any_res_masks: torch.Tensor):
        """``(any_res_masks, video_res_masks)``: the scores resized to the video's (H, W) (and
        made non-overlapping with ``non_overlap_masks``)."""
        device = inference_state["device"]
        video_H = inference_state["video_height"]
        video_W = inference_state["video_width"]
        any_res_masks = any_res_masks.to(device, non_blocking=True)
        if any_res_masks.shape[-2:] == (video_H, video_W):
            video_res_masks = any_res_masks
        else:
            video_res_masks = F.interpolate(any_res_masks, size=(video_H, video_W), mode="bilinear", align_corners=False)
        if self.non_overlap_masks:
            video_res_masks = self._apply_non_overlapping_constraints(video_res_masks)
        return any_res_masks, video_res_masks

    def _consolidate_temp_output_across_obj(self, inference_state: dict, frame_idx: int, is_cond: bool,
                                            consolidate_at_video_res: bool = False) -> dict:
        """All objects' current masks on a frame, ``(num_objects, 1, h, w)`` (NO_OBJ_SCORE where an
        object has none): temporary outputs first, else tracked ones."""
        batch_size = self._get_obj_num(inference_state)
        storage_key = "cond_frame_outputs" if is_cond else "non_cond_frame_outputs"
        if consolidate_at_video_res:
            consolidated_H = inference_state["video_height"]
            consolidated_W = inference_state["video_width"]
            consolidated_mask_key = "pred_masks_video_res"
        else:
            consolidated_H = consolidated_W = self.image_size // 4
            consolidated_mask_key = "pred_masks"
        consolidated_out = {
            consolidated_mask_key: torch.full(
                size=(batch_size, 1, consolidated_H, consolidated_W), fill_value=NO_OBJ_SCORE, dtype=torch.float32,
                device=inference_state["storage_device"],
            ),
        }
        for obj_idx in range(batch_size):
            obj_temp_output_dict = inference_state["temp_output_dict_per_obj"][obj_idx]
            obj_output_dict = inference_state["output_dict_per_obj"][obj_idx]
            out = obj_temp_output_dict[storage_key].get(frame_idx, None)
            if out is None:
                out = obj_output_dict["cond_frame_outputs"].get(frame_idx, None)
            if out is None:
                out = obj_output_dict["non_cond_frame_outputs"].get(frame_idx, None)
            if out is None:
                continue
            obj_mask = out["pred_masks"]
            consolidated_pred_masks = consolidated_out[consolidated_mask_key]
            if obj_mask.shape[-2:] == consolidated_pred_masks.shape[-2:]:
                consolidated_pred_masks[obj_idx : obj_idx + 1] = obj_mask
            else:
                consolidated_pred_masks[obj_idx : obj_idx + 1] = F.interpolate(
                    obj_mask, size=consolidated_pred_masks.shape[-2:], mode="bilinear", align_corners=False
                )
        return consolidated_out

    # --- propagation -----------------------------------------------------------------------------

    @torch.inference_mode()
    def propagate_in_video_preflight(self, inference_state: dict) -> None:
        """Encode the memory of the frames with new prompts and move them into the tracking outputs."""
        batch_size = self._get_obj_num(inference_state)
        if batch_size == 0:
            raise RuntimeError("No input points or masks are provided for any object; please add inputs first.")
        for obj_idx in range(batch_size):
            obj_output_dict = inference_state["output_dict_per_obj"][obj_idx]
            obj_temp_output_dict = inference_state["temp_output_dict_per_obj"][obj_idx]
            for is_cond in [False, True]:
                storage_key = "cond_frame_outputs" if is_cond else "non_cond_frame_outputs"
                for frame_idx, out in obj_temp_output_dict[storage_key].items():
                    if out["maskmem_features"] is None:
                        high_res_masks = F.interpolate(
                            out["pred_masks"].to(inference_state["device"]),
                            size=(self.image_size, self.image_size), mode="bilinear", align_corners=False,
                        )
                        maskmem_features, maskmem_pos_enc = self._run_memory_encoder(
                            inference_state=inference_state,
                            frame_idx=frame_idx,
                            batch_size=1,
                            high_res_masks=high_res_masks,
                            object_score_logits=out["object_score_logits"],
                            is_mask_from_pts=True,
                        )
                        out["maskmem_features"] = maskmem_features
                        out["maskmem_pos_enc"] = maskmem_pos_enc
                    obj_output_dict[storage_key][frame_idx] = out
                    if self.clear_non_cond_mem_around_input:
                        self._clear_obj_non_cond_mem_around_input(inference_state, frame_idx, obj_idx)
                obj_temp_output_dict[storage_key].clear()
            obj_output_dict = inference_state["output_dict_per_obj"][obj_idx]
            if len(obj_output_dict["cond_frame_outputs"]) == 0:
                obj_id = self._obj_idx_to_id(inference_state, obj_idx)
                raise RuntimeError(f"No input points or masks are provided for object id {obj_id}; please add inputs first.")
            for frame_idx in obj_output_dict["cond_frame_outputs"]:
                obj_output_dict["non_cond_frame_outputs"].pop(frame_idx, None)

    @torch.inference_mode()
    def propagate_in_video(self, inference_state: dict, start_frame_idx: Optional[int] = None,
                           max_frame_num_to_track: Optional[int] = None, reverse: bool = False, *,
                           release_memory: bool = False):
        """Track every object from ``start_frame_idx`` (default: the first prompted frame) forwards
        (or backwards with ``reverse``) over ``max_frame_num_to_track`` frames (default: all),
        yielding ``(frame_idx, obj_ids, video_res_masks (num_objects, 1, H, W) logits)``.

        ``release_memory`` (samlabel's, off by default as in the reference): drop each object's
        tracked-frame outputs (memory features, masks, pointer) once they fall more than
        :meth:`memory_window` frames behind the frame being tracked, so a long clip propagates
        in a memory that does not grow with its length. The frames the model attends to are
        all kept, so the masks are the same; but a later call that reads a released frame (a
        prompt on it, another pass starting near it) finds it untracked. For one pass over a
        clip, as ``samlabel propagate`` makes."""
        self.propagate_in_video_preflight(inference_state)
        obj_ids = inference_state["obj_ids"]
        num_frames = inference_state["num_frames"]
        batch_size = self._get_obj_num(inference_state)
        if start_frame_idx is None:
            start_frame_idx = min(
                t for obj_output_dict in inference_state["output_dict_per_obj"].values() for t in obj_output_dict["cond_frame_outputs"]
            )
        if max_frame_num_to_track is None:
            max_frame_num_to_track = num_frames
        if reverse:
            end_frame_idx = max(start_frame_idx - max_frame_num_to_track, 0)
            processing_order = range(start_frame_idx, end_frame_idx - 1, -1) if start_frame_idx > 0 else []
        else:
            end_frame_idx = min(start_frame_idx + max_frame_num_to_track, num_frames - 1)
            processing_order = range(start_frame_idx, end_frame_idx + 1)

        for frame_idx in processing_order:
            pred_masks_per_obj = [None] * batch_size
            for obj_idx in range(batch_size):
                obj_output_dict = inference_state["output_dict_per_obj"][obj_idx]
                if frame_idx in obj_output_dict["cond_frame_outputs"]:
                    # Prompted frames keep their consolidated outputs.
                    storage_key = "cond_frame_outputs"
                    current_out = obj_output_dict[storage_key][frame_idx]
                    pred_masks = current_out["pred_masks"].to(inference_state["device"], non_blocking=True)
                    if self.clear_non_cond_mem_around_input:
                        self._clear_obj_non_cond_mem_around_input(inference_state, frame_idx, obj_idx)
                else:
                    storage_key = "non_cond_frame_outputs"
                    current_out, pred_masks = self._run_single_frame_inference(
                        inference_state=inference_state,
                        output_dict=obj_output_dict,
                        frame_idx=frame_idx,
                        batch_size=1,
                        is_init_cond_frame=False,
                        point_inputs=None,
                        mask_inputs=None,
                        reverse=reverse,
                        run_mem_encoder=True,
                    )
                    obj_output_dict[storage_key][frame_idx] = current_out
                inference_state["frames_tracked_per_obj"][obj_idx][frame_idx] = {"reverse": reverse}
                pred_masks_per_obj[obj_idx] = pred_masks
            all_pred_masks = torch.cat(pred_masks_per_obj, dim=0) if len(pred_masks_per_obj) > 1 else pred_masks_per_obj[0]
            _, video_res_masks = self._get_orig_video_res_output(inference_state, all_pred_masks)
            if release_memory:
                self._release_memory_behind(inference_state, frame_idx, reverse)
            yield frame_idx, obj_ids, video_res_masks

    def memory_window(self) -> int:
        """How many frames behind the one being tracked the model may still read a tracked
        frame's output: the ``num_maskmem - 1`` memories (``memory_temporal_stride_for_eval``
        apart, the nearest two frames back) and ``max_obj_ptrs_in_encoder - 1`` object pointers."""
        stride = max(1, int(self.memory_temporal_stride_for_eval))
        return max(self.num_maskmem * stride + 1, self.max_obj_ptrs_in_encoder)

    def _release_memory_behind(self, inference_state: dict, frame_idx: int, reverse: bool) -> None:
        """Drop the tracked (non-conditioning) outputs more than :meth:`memory_window` frames
        behind ``frame_idx`` in the tracking direction (conditioning frames are all kept)."""
        window = self.memory_window()
        for obj_output_dict in inference_state["output_dict_per_obj"].values():
            outputs = obj_output_dict["non_cond_frame_outputs"]
            old = [t for t in outputs if (t > frame_idx + window if reverse else t < frame_idx - window)]
            for t in old:
                del outputs[t]

    # --- editing -------------------------------------------------------------------------------

    @torch.inference_mode()
    def clear_all_prompts_in_frame(self, inference_state: dict, frame_idx: int, obj_id, need_output: bool = True):
        """Remove ``obj_id``'s clicks or mask on a frame (a conditioning frame becomes a tracked one)."""
        obj_idx = self._obj_id_to_idx(inference_state, obj_id)
        inference_state["point_inputs_per_obj"][obj_idx].pop(frame_idx, None)
        inference_state["mask_inputs_per_obj"][obj_idx].pop(frame_idx, None)
        temp_output_dict_per_obj = inference_state["temp_output_dict_per_obj"]
        temp_output_dict_per_obj[obj_idx]["cond_frame_outputs"].pop(frame_idx, None)
        temp_output_dict_per_obj[obj_idx]["non_cond_frame_outputs"].pop(frame_idx, None)
        obj_output_dict = inference_state["output_dict_per_obj"][obj_idx]
        out = obj_output_dict["cond_frame_outputs"].pop(frame_idx, None)
        if out is not None:
            obj_output_dict["non_cond_frame_outputs"][frame_idx] = out
            inference_state["frames_tracked_per_obj"][obj_idx].pop(frame_idx, None)
        if not need_output:
            return
        obj_ids = inference_state["obj_ids"]
        is_cond = any(frame_idx in d["cond_frame_outputs"] for d in temp_output_dict_per_obj.values())
        consolidated_out = self._consolidate_temp_output_across_obj(
            inference_state, frame_idx, is_cond=is_cond, consolidate_at_video_res=True
        )
        _, video_res_masks = self._get_orig_video_res_output(inference_state, consolidated_out["pred_masks_video_res"])
        return frame_idx, obj_ids, video_res_masks

    @torch.inference_mode()
    def reset_state(self, inference_state: dict) -> None:
        """Remove every object, prompt and tracking result (the frames and their cache stay)."""
        self._reset_tracking_results(inference_state)
        inference_state["obj_id_to_idx"].clear()
        inference_state["obj_idx_to_id"].clear()
        inference_state["obj_ids"].clear()
        inference_state["point_inputs_per_obj"].clear()
        inference_state["mask_inputs_per_obj"].clear()
        inference_state["output_dict_per_obj"].clear()
        inference_state["temp_output_dict_per_obj"].clear()
        inference_state["frames_tracked_per_obj"].clear()

    def _reset_tracking_results(self, inference_state: dict) -> None:
        for v in inference_state["point_inputs_per_obj"].values():
            v.clear()
        for v in inference_state["mask_inputs_per_obj"].values():
            v.clear()
        for v in inference_state["output_dict_per_obj"].values():
            v["cond_frame_outputs"].clear()
            v["non_cond_frame_outputs"].clear()
        for v in inference_state["temp_output_dict_per_obj"].values():
            v["cond_frame_outputs"].clear()
            v["non_cond_frame_outputs"].clear()
        for v in inference_state["frames_tracked_per_obj"].values():
            v.clear()

    @torch.inference_mode()
    def remove_object(self, inference_state: dict, obj_id, strict: bool = False, need_output: bool = True):
        """Remove ``obj_id`` from the state. Returns ``(obj_ids, updated_frames)``: the remaining ids
        and ``(frame_idx, video_res_masks)`` of the frames where it had prompts."""
        old_obj_idx_to_rm = inference_state["obj_id_to_idx"].get(obj_id, None)
        updated_frames = []
        if old_obj_idx_to_rm is None:
            if not strict:
                return inference_state["obj_ids"], updated_frames
            raise RuntimeError(
                f"Cannot remove object id {obj_id} as it doesn't exist. All existing object ids: {inference_state['obj_ids']}."
            )
        if len(inference_state["obj_id_to_idx"]) == 1:
            self.reset_state(inference_state)
            return inference_state["obj_ids"], updated_frames

        obj_input_frames_inds = set()
        obj_input_frames_inds.update(inference_state["point_inputs_per_obj"][old_obj_idx_to_rm])
        obj_input_frames_inds.update(inference_state["mask_inputs_per_obj"][old_obj_idx_to_rm])
        for frame_idx in obj_input_frames_inds:
            self.clear_all_prompts_in_frame(inference_state, frame_idx, obj_id, need_output=False)

        old_obj_ids = inference_state["obj_ids"]
        old_obj_inds = list(range(len(old_obj_ids)))
        remain_old_obj_inds = old_obj_inds.copy()
        remain_old_obj_inds.remove(old_obj_idx_to_rm)
        new_obj_ids = [old_obj_ids[old_idx] for old_idx in remain_old_obj_inds]
        new_obj_inds = list(range(len(new_obj_ids)))
        old_idx_to_new_idx = dict(zip(remain_old_obj_inds, new_obj_inds))
        inference_state["obj_id_to_idx"] = OrderedDict(zip(new_obj_ids, new_obj_inds))
        inference_state["obj_idx_to_id"] = OrderedDict(zip(new_obj_inds, new_obj_ids))
        inference_state["obj_ids"] = new_obj_ids

        def _map_keys(container):
            new_kvs = []
            for k in old_obj_inds:
                v = container.pop(k)
                if k in old_idx_to_new_idx:
                    new_kvs.append((old_idx_to_new_idx[k], v))
            container.update(new_kvs)

        _map_keys(inference_state["point_inputs_per_obj"])
        _map_keys(inference_state["mask_inputs_per_obj"])
        _map_keys(inference_state["output_dict_per_obj"])
        _map_keys(inference_state["temp_output_dict_per_obj"])
        _map_keys(inference_state["frames_tracked_per_obj"])

        if need_output:
            temp_output_dict_per_obj = inference_state["temp_output_dict_per_obj"]
            for frame_idx in sorted(obj_input_frames_inds):
                is_cond = any(frame_idx in d["cond_frame_outputs"] for d in temp_output_dict_per_obj.values())
                consolidated_out = self._consolidate_temp_output_across_obj(
                    inference_state, frame_idx, is_cond=is_cond, consolidate_at_video_res=True
                )
                _, video_res_masks = self._get_orig_video_res_output(inference_state, consolidated_out["pred_masks_video_res"])
                updated_frames.append((frame_idx, video_res_masks))
        return inference_state["obj_ids"], updated_frames

    def _clear_non_cond_mem_around_input(self, inference_state: dict, frame_idx: int) -> None:
        """Drop the tracked (non-conditioning) memories within ``num_maskmem`` frames of ``frame_idx``."""
        r = self.memory_temporal_stride_for_eval
        frame_idx_begin = frame_idx - r * self.num_maskmem
        frame_idx_end = frame_idx + r * self.num_maskmem
        for obj_idx in range(self._get_obj_num(inference_state)):
            non_cond_frame_outputs = inference_state["output_dict_per_obj"][obj_idx]["non_cond_frame_outputs"]
            for t in range(frame_idx_begin, frame_idx_end + 1):
                non_cond_frame_outputs.pop(t, None)

    def _clear_obj_non_cond_mem_around_input(self, inference_state: dict, frame_idx: int, obj_idx: int) -> None:
        """The same for one object (what ``clear_non_cond_mem_around_input`` does per object)."""
        r = self.memory_temporal_stride_for_eval
        non_cond_frame_outputs = inference_state["output_dict_per_obj"][obj_idx]["non_cond_frame_outputs"]
        for t in range(frame_idx - r * self.num_maskmem, frame_idx + r * self.num_maskmem + 1):
            non_cond_frame_outputs.pop(t, None)

    # --- per-frame work --------------------------------------------------------------------------

    def _get_image_feature(self, inference_state: dict, frame_idx: int, batch_size: int):
        """``(image, backbone_out, vision_feats, vision_pos_embeds, feat_sizes)`` of a frame, expanded
        to ``batch_size`` objects (the last frame's features are cached)."""
        image, backbone_out = inference_state["cached_features"].get(frame_idx, (None, None))
        if backbone_out is None:
            device = inference_state["device"]
            image = inference_state["images"][frame_idx].to(device).float().unsqueeze(0)
            backbone_out = self.forward_image(image)
            inference_state["cached_features"] = {frame_idx: (image, backbone_out)}
        expanded_image = image.expand(batch_size, -1, -1, -1)
        expanded_backbone_out = {
            "backbone_fpn": [feat.expand(batch_size, -1, -1, -1) for feat in backbone_out["backbone_fpn"]],
            "vision_pos_enc": [pos.expand(batch_size, -1, -1, -1) for pos in backbone_out["vision_pos_enc"]],
        }
        features = self._prepare_backbone_features(expanded_backbone_out)
        return (expanded_image,) + features

    def _run_single_frame_inference(self, inference_state, output_dict, frame_idx, batch_size, is_init_cond_frame,
                                    point_inputs, mask_inputs, reverse, run_mem_encoder, prev_sam_mask_logits=None):
        """``track_step`` on one frame; returns the compact output to store and the mask logits."""
        _, _, current_vision_feats, current_vision_pos_embeds, feat_sizes = self._get_image_feature(
            inference_state, frame_idx, batch_size
        )
        assert point_inputs is None or mask_inputs is None
        current_out = self.track_step(
            frame_idx=frame_idx,
            is_init_cond_frame=is_init_cond_frame,
            current_vision_feats=current_vision_feats,
            current_vision_pos_embeds=current_vision_pos_embeds,
            feat_sizes=feat_sizes,
            point_inputs=point_inputs,
            mask_inputs=mask_inputs,
            output_dict=output_dict,
            num_frames=inference_state["num_frames"],
            track_in_reverse=reverse,
            run_mem_encoder=run_mem_encoder,
            prev_sam_mask_logits=prev_sam_mask_logits,
        )
        storage_device = inference_state["storage_device"]
        maskmem_features = current_out["maskmem_features"]
        if maskmem_features is not None:
            # Stored in bf16, as the reference does (half the memory; the numbers depend on it).
            maskmem_features = maskmem_features.to(self.maskmem_dtype).to(storage_device, non_blocking=True)
        pred_masks_gpu = current_out["pred_masks"]
        if self.fill_hole_area > 0:
            pred_masks_gpu = fill_holes_in_mask_scores(pred_masks_gpu, self.fill_hole_area)
        pred_masks = pred_masks_gpu.to(storage_device, non_blocking=True)
        maskmem_pos_enc = self._get_maskmem_pos_enc(inference_state, current_out)
        compact_current_out = {
            "maskmem_features": maskmem_features,
            "maskmem_pos_enc": maskmem_pos_enc,
            "pred_masks": pred_masks,
            "obj_ptr": current_out["obj_ptr"],
            "object_score_logits": current_out["object_score_logits"],
        }
        return compact_current_out, pred_masks_gpu

    def _run_memory_encoder(self, inference_state, frame_idx, batch_size, high_res_masks, object_score_logits, is_mask_from_pts):
        """Encode the memory of a prompted frame from its (final) masks."""
        _, _, current_vision_feats, _, feat_sizes = self._get_image_feature(inference_state, frame_idx, batch_size)
        maskmem_features, maskmem_pos_enc = self._encode_new_memory(
            current_vision_feats=current_vision_feats,
            feat_sizes=feat_sizes,
            pred_masks_high_res=high_res_masks,
            object_score_logits=object_score_logits,
            is_mask_from_pts=is_mask_from_pts,
        )
        storage_device = inference_state["storage_device"]
        maskmem_features = maskmem_features.to(self.maskmem_dtype).to(storage_device, non_blocking=True)
        maskmem_pos_enc = self._get_maskmem_pos_enc(inference_state, {"maskmem_pos_enc": maskmem_pos_enc})
        return maskmem_features, maskmem_pos_enc

    def _get_maskmem_pos_enc(self, inference_state: dict, current_out: dict):
        """The memory position encoding is the same for every frame and object: keep one copy."""
        model_constants = inference_state["constants"]
        out_maskmem_pos_enc = current_out["maskmem_pos_enc"]
        if out_maskmem_pos_enc is None:
            return None
        if "maskmem_pos_enc" not in model_constants:
            assert isinstance(out_maskmem_pos_enc, list)
            maskmem_pos_enc = [x[0:1].clone() for x in out_maskmem_pos_enc]
            model_constants["maskmem_pos_enc"] = maskmem_pos_enc
        else:
            maskmem_pos_enc = model_constants["maskmem_pos_enc"]
        batch_size = out_maskmem_pos_enc[0].size(0)
        return [x.expand(batch_size, -1, -1, -1) for x in maskmem_pos_enc]


# The name samlabel's other predictors follow (``SamPredictor``).
SamVideoPredictor = SAM2VideoPredictor


def build_sam_video_predictor(
    name: Union[str, Sam2Config],
    checkpoint: Optional[Union[str, Path]] = None,
    device: Union[str, torch.device] = "cpu",
    video_config: Optional[Sam2VideoConfig] = None,
    **options,
) -> SAM2VideoPredictor:
    """The video predictor of model ``name`` (``"sam2.1_hiera_tiny"`` ... or a ``Sam2Config``)
    with the official ``checkpoint`` loaded strictly (all keys, video modules included), on
    ``device``, in eval mode. ``options``: ``fill_hole_area`` (8), ``non_overlap_masks``
    (False), ``clear_non_cond_mem_around_input`` (False), ``add_all_frames_to_correct_as_cond``
    (True). Without a checkpoint the weights are random (tests, timing)."""
    import uuid

    from samlabel.sam.files.checkpoint import file_sha256, read_state_dict
    from samlabel.sam.modeling.sam2.build import build_sam2_video_model, load_sam2_video_state_dict

    config = get_sam2_config(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build_sam2_video_model(config, video_config, cls=SAM2VideoPredictor, **options)
    model.model_id = f"{config.name}:random-{uuid.uuid4().hex}"
    if checkpoint is not None:
        load_sam2_video_state_dict(model, read_state_dict(checkpoint), Path(checkpoint))
        model.model_id = f"{config.name}:{file_sha256(checkpoint)[:16]}"
    return model.to(device).eval()
