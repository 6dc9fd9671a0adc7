"""The decoder's per-prompt path, recorded once per prompt shape and replayed without Python.

A vit_b hover decode (:meth:`FastDecoder.decode <samlabel.sam.fast.decoder.FastDecoder.decode>` on one point) is about 600 tensor ops,
most of them small. Run eagerly, the Python code and the dispatch between them are a
noticeable share of the decode on a few CPU cores (figures: docs/performance.md, "Recorded
hover decoder (torch.jit), shapes folded").
:func:`torch.jit.trace` records the ops of one call; replaying the recording runs the same
kernels in the same order from C++, so its outputs equal the eager ones bit for bit
(``tests/sam/fast/test_fast_traced_decoder.py``).

What a recording keeps, and what it takes as inputs:

* the prompt encoder's and mask decoder's weights are referenced, not copied (the recorded
  module holds the model's own parameters; in-place weight loads are seen);
* the per-image :class:`~samlabel.sam.fast.decoder.DecoderContext` is an *input*: its tensors
  are flattened into the call, so one recording serves every image whose context has the
  same shapes (every image of the same size, with the same model);
* everything that is not a tensor is fixed by the recording: the shapes of the prompt
  tensors, ``multimask_output``, ``valid_size``, the context's structure and its plain
  numbers. All of these are part of the :class:`TracedDecoder` key, so a prompt of another
  shape gets its own recording.

Recording costs about a dozen eager decodes, so only callers that repeat a prompt shape many
times use it: :meth:`DecoderSession.decode` with ``image_only=True``,
the GUI's hover preview. Each new recording is checked once against the eager path on a
prompt other than the one it was recorded with; a mismatch (a value the recording froze)
or any error while recording turns tracing off for that key, with a log message, and the
eager path is used. ``SAMLABEL_TRACED_DECODER=0`` turns it off altogether.

A traced program also recomputes every shape the Python code read (``x.shape[i]`` becomes
``aten::size``, then ``NumToTensor``/``Int`` round trips and 0-d tensor arithmetic for each
``reshape``): about a third of a vit_b recording's ~1800 nodes. The key fixes every input
shape, and no shape in the decoder depends on values, so :func:`fold_shapes` replaces those
reads by the recorded constants and folds the arithmetic away (~1150 nodes left), which
takes that bookkeeping out of every replay. The check against the eager path runs on the
folded program.

``torch.jit.trace`` is deprecated in favour of ``torch.compile`` / ``torch.export``, which
need a C++ compiler at run time or replay through Python; where ``torch.jit`` is missing
the eager path is used.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
import weakref
from collections import OrderedDict
from typing import Any, Callable, Hashable, Optional

import torch
import torch.utils._pytree as pytree
from torch import nn

from samlabel.sam.fast.decoder import FastDecoder
from samlabel.sam.modeling.sam1.mask_decoder import MaskDecoder

log = logging.getLogger(__name__)

ENV_SWITCH = "SAMLABEL_TRACED_DECODER"
MAX_RECORDINGS = 8  # per model; each is a few hundred KB of graph, the weights are shared


def tracing_enabled() -> bool:
    """False when ``SAMLABEL_TRACED_DECODER=0`` or this torch has no ``torch.jit.trace``."""
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    return hasattr(torch, "jit") and hasattr(torch.jit, "trace")


class UnsupportedContext(TypeError):
    """The decoder context holds a value :func:`flatten` cannot record (a leaf that is not a
    tensor, plain number, string or None, e.g. a dataclass not registered with pytree)."""


# ------------------------------------------------------------------ flattening
_CONTEXT_TYPES_REGISTERED = False
_CONTEXT_LOCK = threading.Lock()


def _register_context_types() -> None:
    """Make the fast decoder's per-image dataclasses pytree nodes (once, on first use)."""
    global _CONTEXT_TYPES_REGISTERED
    with _CONTEXT_LOCK:
        if _CONTEXT_TYPES_REGISTERED:
            return
        from samlabel.sam.fast.decoder import DecoderContext
        from samlabel.sam.fast.lowrank import LowRankUpdate
        from samlabel.sam.fast.norm_stats import NormStatsCache
        from samlabel.sam.fast.output_map import FinalAttentionCache, MapWeights, OutputMapCache, TwoBlockTokens
        from samlabel.sam.fast.second_layer import SecondLayerCache
        from samlabel.sam.fast.stacked_mlp import StackedMLP
        from samlabel.sam.fast.two_way import ImageSideCache

        from samlabel.sam.fast.sam2_decoder import Sam2FastContext

        for cls in (DecoderContext, Sam2FastContext, ImageSideCache, SecondLayerCache, FinalAttentionCache,
                    NormStatsCache, OutputMapCache, MapWeights, TwoBlockTokens, LowRankUpdate, StackedMLP):
            pytree.register_dataclass(cls)
        _CONTEXT_TYPES_REGISTERED = True


def flatten(obj: Any) -> tuple[list[torch.Tensor], Hashable]:
    """``obj`` -> (its tensors in a fixed order, a hashable spec of everything else).

    ``torch.utils._pytree`` walks the structure (tuples, lists, dicts and the fast decoder's
    registered dataclasses). The spec holds the tree's structure, each tensor's shape, dtype
    and device, and every plain value, so equal specs mean a recording made for one object
    replays correctly for the other. Raises :class:`UnsupportedContext` for other leaves.
    """
    _register_context_types()
    leaves, treespec = pytree.tree_flatten(obj)
    tensors: list[torch.Tensor] = []
    signature = []
    for leaf in leaves:
        if isinstance(leaf, torch.Tensor):
            tensors.append(leaf)
            signature.append(("T", tuple(leaf.shape), leaf.dtype, str(leaf.device)))
        elif leaf is None or isinstance(leaf, (bool, int, float, str)):
            signature.append(("C", type(leaf).__name__, leaf))
        else:
            raise UnsupportedContext(f"cannot record a decoder context holding {type(leaf).__name__}")
    return tensors, (treespec, tuple(signature))


def unflatten(spec: Hashable, tensors: list[torch.Tensor]) -> Any:
    """Inverse of :func:`flatten`: rebuilds the object from ``spec`` with ``tensors``."""
    treespec, signature = spec
    it = iter(tensors)
    leaves = [next(it) if s[0] == "T" else s[2] for s in signature]
    return pytree.tree_unflatten(leaves, treespec)


# ------------------------------------------------------------------ recording
def _heads(sam: nn.Module) -> Optional[tuple[nn.Module, nn.Module, type]]:
    """``(prompt encoder, mask decoder, fast decoder class)`` of a SAM 1 or SAM 2 model, or None."""
    if isinstance(getattr(sam, "mask_decoder", None), MaskDecoder) and hasattr(sam, "prompt_encoder"):
        return sam.prompt_encoder, sam.mask_decoder, FastDecoder
    if hasattr(sam, "sam_mask_decoder") and hasattr(sam, "sam_prompt_encoder"):  # SAM 2
        from samlabel.sam.fast.sam2_decoder import FastSam2Decoder

        return sam.sam_prompt_encoder, sam.sam_mask_decoder, FastSam2Decoder
    return None


class _DecodeCall(nn.Module):
    """One fast decoder's ``decode`` call shape as a module, so that :func:`torch.jit.trace`
    references the prompt encoder's and mask decoder's parameters instead of freezing them."""

    def __init__(self, sam: nn.Module, n_ctx: int, ctx_spec: Hashable, prompt_spec: Hashable,
                 multimask: bool, valid_size: Optional[tuple[int, int]]) -> None:
        super().__init__()
        self.prompt_encoder, self.mask_decoder, decoder_cls = _heads(sam)
        self._decode = decoder_cls(sam).decode  # a bound method: not a submodule, not traced as one
        self._n_ctx = n_ctx  # the first n_ctx inputs are the context's tensors, the rest the prompt's
        self._ctx_spec, self._prompt_spec = ctx_spec, prompt_spec
        self._multimask, self._valid_size = multimask, valid_size

    def forward(self, *tensors: torch.Tensor):  # noqa: D102
        ctx = unflatten(self._ctx_spec, list(tensors[: self._n_ctx]))
        coords, labels, boxes, mask_input = unflatten(self._prompt_spec, list(tensors[self._n_ctx :]))
        return self._decode(ctx, coords, labels, boxes, mask_input, self._multimask, self._valid_size)


# Bumped whenever any module in the process registers a parameter, which is also how a
# parameter is *replaced* (``module.weight = nn.Parameter(...)``, ``load_state_dict(assign=True)``).
# A recording holds the parameter objects it saw, so a replacement makes it stale; in-place
# loads (``load_state_dict``, ``.to()``) keep the objects and are seen. Part of every key.
_param_generation = 0


def _bump_generation(module, name, param):  # noqa: ARG001 - the hook's signature
    global _param_generation
    _param_generation += 1


_register_hook = getattr(nn.modules.module, "register_module_parameter_registration_hook", None)
_hook_installed = False


def _install_hook() -> None:
    """Install the process-wide parameter hook on first use of a recording, not on import."""
    global _hook_installed
    if _register_hook is not None and not _hook_installed:
        _register_hook(_bump_generation)
        _hook_installed = True


def _weights_token(sam: nn.Module) -> Hashable:
    """Changes when a parameter may have been replaced (see ``_param_generation``); where this
    torch has no registration hook, the parameters' identities (slower: a walk over every parameter)."""
    if _hook_installed:
        return _param_generation
    prompt_encoder, mask_decoder, _ = _heads(sam)
    return tuple(id(p) for p in prompt_encoder.parameters()) + tuple(id(p) for p in mask_decoder.parameters())


_OFF = object()  # a key whose recording failed or did not match: use the eager path


class TracedDecoder:
    """Recordings of ``FastDecoder(sam).decode``, one per call shape (see the module docstring).

    Use :func:`traced_decoder_for` to share one per model. Thread-safe: a lock guards the
    table (so a shape is recorded once), and replays run outside it, from any thread at once
    (each TorchScript call has its own interpreter state; tested).
    """

    def __init__(self, sam: nn.Module) -> None:
        self._sam_ref = weakref.ref(sam)
        self._programs: "OrderedDict[Hashable, Any]" = OrderedDict()
        self._lock = threading.RLock()
        self.recorded = 0  # how many recordings were made (tests, diagnostics)
        self.replayed = 0  # how many calls ran a recording
        self._last_ctx: Optional[tuple] = None

    def __call__(
        self,
        ctx: Any,
        point_coords: Optional[torch.Tensor],
        point_labels: Optional[torch.Tensor],
        boxes: Optional[torch.Tensor],
        mask_input: Optional[torch.Tensor],
        multimask_output: bool,
        valid_size: Optional[tuple[int, int]],
        eager: Callable[[], tuple[torch.Tensor, torch.Tensor]],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode through the recording for this call shape (made on first use); ``eager()``
        runs the same call without one, for the fallback and the first-use check."""
        sam = self._sam_ref()
        if sam is None or not tracing_enabled():
            return eager()
        try:
            ctx_leaves, ctx_spec = self._flatten_context(ctx)
        except UnsupportedContext:
            return eager()
        prompt = (point_coords, point_labels, boxes, mask_input)
        prompt_leaves, prompt_spec = flatten(prompt)
        valid = None if valid_size is None else (int(valid_size[0]), int(valid_size[1]))
        key = (ctx_spec, prompt_spec, bool(multimask_output), valid, _weights_token(sam))
        inputs = tuple(ctx_leaves) + tuple(prompt_leaves)
        with self._lock:
            program = self._programs.get(key)
            if program is None:
                program, result = self._record(sam, key, len(ctx_leaves), inputs, eager)
                self._programs[key] = program
                while len(self._programs) > MAX_RECORDINGS:
                    self._programs.popitem(last=False)
                return result  # the eager result, which the new recording was checked against
            self._programs.move_to_end(key)
        if program is _OFF:
            return eager()
        self.replayed += 1
        with torch.no_grad(), torch.jit.optimized_execution(False):
            return tuple(program(*inputs))

    def _flatten_context(self, ctx: Any) -> tuple[list[torch.Tensor], Hashable]:
        """:func:`flatten` of the per-image context, kept for the last one seen (a session
        decodes many prompts against one context)."""
        cached = self._last_ctx
        if cached is not None and cached[0]() is ctx:
            return cached[1], cached[2]
        leaves, spec = flatten(ctx)
        try:
            # the callback drops the cached tensors with the context (tens of MB per image)
            self._last_ctx = (weakref.ref(ctx, self._forget_context), leaves, spec)
        except TypeError:  # not weak-referenceable: flatten every time
            pass
        return leaves, spec

    def _forget_context(self, ref: "weakref.ref") -> None:
        cached = self._last_ctx
        if cached is not None and cached[0] is ref:
            self._last_ctx = None

    def _record(self, sam, key, n_ctx: int, inputs: tuple, eager):
        """Trace with a shifted copy of the prompt, then check the replay on the real one.

        Returns ``(program or _OFF, the eager result for inputs)``.
        """
        # Copies: a recording that is later run on its own example tensors keeps them alive
        # for as long as it lives (seen with torch 2.14), and those would be the first
        # image's context, tens of MB. The prompt's coordinates, boxes and mask logits are
        # shifted so that the check below runs the recording on other values than it saw.
        example = [t.clone() for t in inputs]
        for i in range(n_ctx, len(example)):
            if example[i].is_floating_point():
                example[i] += 7.25
        expected = eager()

        def trace(module: nn.Module):
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")  # TracerWarnings: every flagged value is a shape, in the key
                return torch.jit.trace(module, tuple(example), check_trace=False)

        try:
            module = _DecodeCall(sam, n_ctx, key[0], key[1], key[2], key[3])
            program = trace(module)
            try:
                fold_shapes(program.graph)
            except Exception:  # noqa: BLE001 - a torch without these passes: the plain recording
                log.debug("folding the recording's shapes failed; recording it again unfolded", exc_info=True)
                program = trace(module)
            with torch.no_grad(), torch.jit.optimized_execution(False):
                replay = tuple(program(*inputs))
        except Exception:  # noqa: BLE001 - any failure: stay on the eager path for this shape
            log.warning("recording the decoder for %s failed; using the eager path", _describe(key), exc_info=True)
            return _OFF, expected
        self.recorded += 1
        if len(replay) != len(expected) or not all(torch.equal(a, b) for a, b in zip(replay, expected)):
            log.warning("the decoder's recording for %s differs from the eager path; not using it", _describe(key))
            return _OFF, expected
        return program, expected

    def clear(self) -> None:
        """Forget every recording (they are made again on use)."""
        with self._lock:
            self._programs.clear()

    def __len__(self) -> int:
        with self._lock:
            return sum(1 for p in self._programs.values() if p is not _OFF)


def fold_shapes(graph: "torch._C.Graph") -> int:
    """Replace a traced graph's shape reads by constants; returns how many were replaced.

    For a recording whose input shapes are fixed (the :class:`TracedDecoder` key): each
    ``aten::size(t, dim)`` whose ``t`` has a complete recorded shape becomes that number, then
    constant propagation folds the ``NumToTensor``/``Int`` arithmetic built on it and
    dead-code elimination drops what is left. Submodule calls are inlined first so that
    their shape reads are reached too. Works on the graph in place, before its first run.
    """
    torch._C._jit_pass_inline(graph)
    replaced = 0
    for node in list(graph.nodes()):  # a trace has no nested blocks
        if node.kind() != "aten::size":
            continue
        args = list(node.inputs())
        if len(args) != 2:
            continue
        dim = args[1].toIValue()
        sizes = args[0].type().sizes() if isinstance(args[0].type(), torch._C.TensorType) else None
        if not isinstance(dim, int) or not sizes or any(n is None for n in sizes):
            continue
        with graph.insert_point_guard(node):
            const = graph.insertConstant(int(sizes[dim]))
        node.output().replaceAllUsesWith(const)
        replaced += 1
    torch._C._jit_pass_constant_propagation(graph)
    torch._C._jit_pass_dce(graph)
    return replaced


def _describe(key: Hashable) -> str:
    _, prompt_spec, multimask, valid, _ = key
    shapes = [s[1] for s in prompt_spec[1] if s[0] == "T"]
    return f"prompt shapes {shapes}, multimask={multimask}, valid_size={valid}"


_REGISTRY: "weakref.WeakKeyDictionary[nn.Module, TracedDecoder]" = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()


def traced_decoder_for(sam: nn.Module) -> Optional[TracedDecoder]:
    """The model's shared :class:`TracedDecoder` (SAM 1 and SAM 2 models), or None for a model
    the fast decoders do not run."""
    if _heads(sam) is None:
        return None
    with _REGISTRY_LOCK:
        _install_hook()
        traced = _REGISTRY.get(sam)
        if traced is None:
            traced = _REGISTRY[sam] = TracedDecoder(sam)
        return traced
