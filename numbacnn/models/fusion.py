"""Inference-time fusion: a convolution, the batch-norm, activation and pooling after it, run as one pass.

At inference (``Model.forward(training=False)`` without a hook) each chain

    Conv1D/2D/3D (linear activation) -> BatchNormalization (channels last) -> relu-like or tanh layer
    Conv (linear) -> BatchNormalization        or        Conv (linear) -> relu-like or tanh layer

(DepthwiseConv1D/2D and SeparableConv1D/2D too, without a pooling), a convolution's chain optionally
followed by a max or average pooling whose strides are its window and whose padding is
'valid' (``Conv2D(..., activation="relu") -> MaxPooling2D()`` and LeNet-5's
``Conv2D(..., activation="tanh") -> AveragePooling2D()`` are such chains too), and whose intermediate
tensors feed nothing else and are not the model's output, is computed by the convolution's
``forward_fused``: the bias, the batch-norm's per-channel affine and the activation are applied to each
block of the convolution's output while it is still in cache, instead of two more passes over memory,
and with a pooling only the windows' maxima or means are written. Each step is the same float32
operation in the same order as the separate layers, so without a pooling the outputs are
bit-identical (``tests/models/test_fusion.py``); with one, the matrix product runs on other blocks of
rows: the same bits on ``vector_gemm`` (float32 on AVX-512), while the BLAS may round a product's last
bit differently in them. A convolution with its own relu or tanh and no pooling after it fuses the
activation by itself, without a plan.

In training (``Model.forward(training=True)`` without a hook) one chain is fused: a convolution whose
own activation is a relu that training applies with its bias (``relu_fused_in_training``) followed by
such a max pooling, whose input feeds nothing else (``training_plan``). The convolution's
``forward_pooled`` computes the pooled output and its argmax in cache blocks, and the convolution's
output (the largest tensor of the step, for the first layer of a CNN) is never written; the pooling's
backward applies the relu's derivative to its gradient at the windows' winners, whose values are the
pooled ones, and routes it there, so the convolution's backward skips the relu pass. Outputs and input
gradients are the same as the layers one by one (the same float32 operations); a weight gradient can
differ in the last bits where its column matrix was kept unfused and is rebuilt in blocks here.

Any forward with a hook (the visual debugger, ``Trainer.activations``) runs every layer, since it needs
every layer's output.
"""

from collections import defaultdict
from typing import NamedTuple

from .. import activations
from ..kernels import ops
from ..layers.activation import _ActivationLayer
from ..layers.convolutional import BaseConv
from ..layers.convolutional_depthwise import BaseDepthwiseConv
from ..layers.normalization import BatchNormalization
from ..layers.pooling import _Pooling


class FusedGroup(NamedTuple):
    """A convolution node and the nodes it absorbs; ``last`` is the one whose output the group gives."""

    conv: object
    batchnorm: object  # node or None
    activation: object  # node or None
    pool: object  # node or None
    last: object


def _consumers(nodes):
    """{id(tensor): [nodes reading it]} of a node list."""
    consumers = defaultdict(list)
    for node in nodes:
        for t in node.inputs:
            consumers[id(t)].append(node)
    return consumers


def _sole_consumer(node, consumers, output_ids):
    """The one node that reads ``node``'s (one) output, and reads only it; None when the output fans out
    to several nodes, is one of the model's outputs, or feeds a merge."""
    if len(node.outputs) != 1 or id(node.outputs[0]) in output_ids:
        return None
    readers = consumers[id(node.outputs[0])]
    if len(readers) != 1 or not _single(readers[0]):
        return None
    return readers[0]


def _single(node):
    """A node that calls its layer on one tensor, giving one, whose output no activity regularizer reads."""
    return (len(node.inputs) == 1 and len(node.outputs) == 1
            and getattr(node.layer, "activity_regularizer", None) is None)


def plan(nodes, output_tensors):
    """The groups of a topologically ordered node list: ``({id(conv node): FusedGroup}, absorbed)``
    with ``absorbed`` the ids of the batch-norm and activation nodes the groups compute. A chain never
    crosses a tensor that fans out, feeds a merge, or is one of the model's ``output_tensors``."""
    consumers = _consumers(nodes)
    output_ids = {id(t) for t in output_tensors}

    def sole_consumer(node):
        return _sole_consumer(node, consumers, output_ids)

    groups, absorbed = {}, set()
    for node in nodes:
        if not (isinstance(node.layer, (BaseConv, BaseDepthwiseConv)) and _single(node)):
            continue
        own = activations.fused_form(node.layer.activation)
        if own is None:
            continue
        batchnorm = activation = pool = None
        nxt = sole_consumer(node)
        if own[0] == ops().ACT_LINEAR:
            if nxt is not None and isinstance(nxt.layer, BatchNormalization) and _channels_last(nxt.layer):
                batchnorm = nxt
                nxt = sole_consumer(nxt)
            if nxt is not None and isinstance(nxt.layer, _ActivationLayer) and _fusable(nxt.layer._fn):
                activation = nxt
                nxt = sole_consumer(nxt)
        if nxt is not None and isinstance(node.layer, BaseConv) and _poolable(nxt.layer, node.layer.rank,
                                                                               average=True):
            pool = nxt
        if batchnorm is None and activation is None and pool is None:
            continue
        last = pool or activation or batchnorm
        groups[id(node)] = FusedGroup(node, batchnorm, activation, pool, last)
        absorbed.update(id(n) for n in (batchnorm, activation, pool) if n is not None)
    return groups, absorbed


def training_plan(nodes, output_tensors):
    """``{id(conv node): pool node}`` for the chains training fuses, and the ids of the pool nodes."""
    consumers = _consumers(nodes)
    output_ids = {id(t) for t in output_tensors}
    groups = {}
    for node in nodes:
        layer = node.layer
        if not (isinstance(layer, BaseConv) and _single(node) and layer.relu_fused_in_training()):
            continue
        reader = _sole_consumer(node, consumers, output_ids)
        if reader is not None and _poolable(reader.layer, layer.rank):
            groups[id(node)] = reader
    return groups, {id(pool) for pool in groups.values()}


def run_training(conv_node, pool_node, x):
    """The pooling's output for the convolution's input ``x`` in training, both layers' caches kept."""
    conv, pool = conv_node.layer, pool_node.layer
    y, argmax = conv.forward_pooled(x, pool.pool_size)
    pool.keep_fused(conv.compute_output_shape(x.shape), y, argmax, activations.fused_form(conv.activation))
    return y


def run(group, x):
    """The output of ``group.last`` for the convolution's input ``x``, in one ``forward_fused`` call."""
    conv = group.conv.layer
    scale = shift = None
    if group.batchnorm is not None:
        scale, shift = group.batchnorm.layer.inference_affine(x.dtype)
    if group.activation is not None:
        act = group.activation.layer._fn.fused_form()
    else:
        act = activations.fused_form(conv.activation)
    if group.pool is None:
        return conv.forward_fused(x, scale, shift, act)
    pool = group.pool.layer
    return conv.forward_fused(x, scale, shift, act, pool.pool_size, pool_average=not pool._max)


def _poolable(layer, rank, average=False):
    """A max pooling (or, with ``average``, an average pooling too) of the convolution's rank whose
    windows are its strides, without padding."""
    return (isinstance(layer, _Pooling) and (layer._max or average) and layer._rank == rank
            and layer.padding == "valid" and tuple(layer.strides) == tuple(layer.pool_size))


def _fusable(fn):
    form = activations.fused_form(fn)
    return form is not None and form[0] != ops().ACT_LINEAR


def _channels_last(layer):
    """Whether the batch-norm normalises the last axis (the convolution's filters)."""
    rank = len(layer._build_input_shape)
    return layer.axis % rank == rank - 1
