"""Sequential: a stack of layers, each feeding the next.

It is a functional Model underneath: as soon as the input shape is known (from
``input_shape=`` on the first layer, an ``Input``, or the first batch of data) the
layers are called on symbolic tensors, so every shape error is raised at ``add()``
time, naming the layer, as in Keras.
"""

from ..layers.base import InputLayer, KerasTensor, Layer
from .model import Model, assign_layer_names


class Sequential(Model):
    """``Sequential([Conv2D(...), ...])`` or ``Sequential()`` then ``add()``."""

    _default_model_name = "sequential"
    _summary_shows_input = False

    def __init__(self, layers=None, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._stack = []
        self._input_layer = None
        self.built = False
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self):
        """The layers, without the InputLayer (as Keras's Sequential lists them)."""
        return list(self._stack)

    def add(self, layer):
        if isinstance(layer, KerasTensor):
            node_layer = layer.node.layer if layer.node is not None else None
            if not isinstance(node_layer, InputLayer):
                raise ValueError("Sequential.add() takes a layer or an Input(), received a tensor that is "
                                 "the output of another layer")
            layer = node_layer
        if not isinstance(layer, Layer):
            raise ValueError(f"Sequential.add() takes a layer, received {type(layer).__name__}: {layer!r}")
        if isinstance(layer, InputLayer):
            if self._stack or self._input_layer is not None:
                raise ValueError("An Input can only be the first element of a Sequential model")
            self._input_layer = layer
            self._connect()
            return
        if layer in self._stack:
            raise ValueError(f'Layer "{layer.name}" is already in model "{self.name}"')
        assign_layer_names([layer], taken=self._stack)
        self._stack.append(layer)
        if self._input_layer is None and len(self._stack) == 1:
            shape = layer._requested_input_shape
            if shape is None and isinstance(layer, Model) and layer.built and len(layer.inputs) == 1:
                shape = layer.inputs[0].shape[1:]  # a built model brings its input shape
            elif shape is None and layer.built and isinstance(layer._build_input_shape, tuple):
                shape = layer._build_input_shape[1:]  # so does a built layer, as in Keras 3
            if shape is not None:
                self._input_layer = InputLayer(shape=shape, dtype=layer.dtype)
        if self.built:
            self._extend(layer)
        else:
            self._connect()

    def pop(self):
        """Remove the last layer (Keras's Sequential.pop)."""
        if not self._stack:
            raise ValueError(f'Model "{self.name}" has no layers to pop')
        layer = self._stack.pop()
        self.built = False
        self._connect()
        return layer

    # ----- graph ---------------------------------------------------------------------------
    def _connect(self):
        """(Re)build the symbolic graph from the input through every layer, when the input is known."""
        if self._input_layer is None or not self._stack:
            self.built = False
            return
        # The input layer's own tensor, as in Keras 3: every rebuild (pop, add) starts from the same tensor,
        # so layer.output still leads back to model.input (Model(model.input, ...) after a pop()).
        inputs = self._input_layer.output
        x = inputs
        for layer in self._stack:
            x = layer(x)
        self._set_graph(inputs, x)

    def _extend(self, layer):
        self._set_graph(self._inputs[0], layer(self._outputs[0]))

    def _set_graph(self, inputs, outputs):
        if isinstance(outputs, list):
            raise ValueError(f'Sequential model "{self.name}": each layer must give one output; use the '
                             "functional API (Model(inputs, outputs)) for layers with several")
        super()._set_graph(inputs, outputs)
        self._layers = list(self._stack)

    def _is_subclassed(self):
        return False

    def _ensure_built(self, input_shape):
        if not self.built:
            self.build(tuple(input_shape))
        self._check_input_shape(input_shape)

    def build(self, input_shape=None):
        """Build for inputs of ``input_shape`` (batch dim first, may be None)."""
        if self.built:
            return
        if input_shape is None:
            raise ValueError(f'Model "{self.name}": give the first layer an input_shape, or call build()'
                             " with the input shape")
        if not self._stack:
            raise ValueError(f'Model "{self.name}" has no layers to build')
        self._input_layer = InputLayer(batch_shape=(None,) + tuple(input_shape)[1:])
        self._connect()

    def compute_output_shape(self, input_shape):
        if not self.built:
            self.build(input_shape)
        return super().compute_output_shape(input_shape)
