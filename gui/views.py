"""The debugger window: DearPyGui widgets, the callbacks of its buttons, and drawing a worker Snapshot.

Everything here runs on the UI thread. It sends the worker commands and reads its snapshots; it never
calls numbacnn itself.
"""

import dataclasses

import dearpygui.dearpygui as dpg
import numpy as np

from . import layout
from .worker import DATASETS, MODELS, OPTIMIZERS

WHITE = (230, 230, 235, 255)
GREY = (150, 150, 160, 255)
RED = (240, 110, 100, 255)
TRAIN = (90, 160, 250, 255)
VALIDATION = (250, 160, 60, 255)
BATCH = (150, 150, 160, 150)
TRUE_CLASS = (90, 200, 120, 255)
FIELD = 200
"""Width of the setup fields."""
BACKGROUND = (37, 37, 38, 255)
"""The window's colour. The viewport is cleared to it and the windows themselves are transparent: software
OpenGL (Xvfb) then blends a million fewer pixels a frame."""


def _series_theme(colour, bars=False, markers=False):
    with dpg.theme() as theme, dpg.theme_component(dpg.mvAll):
        if bars:
            dpg.add_theme_color(dpg.mvPlotCol_Fill, colour, category=dpg.mvThemeCat_Plots)
        dpg.add_theme_color(dpg.mvPlotCol_Line, colour, category=dpg.mvThemeCat_Plots)
        if markers:
            dpg.add_theme_color(dpg.mvPlotCol_MarkerFill, colour, category=dpg.mvThemeCat_Plots)
            dpg.add_theme_color(dpg.mvPlotCol_MarkerOutline, colour, category=dpg.mvThemeCat_Plots)
            dpg.add_theme_style(dpg.mvPlotStyleVar_Marker, dpg.mvPlotMarker_Circle,
                                category=dpg.mvThemeCat_Plots)
            dpg.add_theme_style(dpg.mvPlotStyleVar_MarkerSize, 3, category=dpg.mvThemeCat_Plots)
    return theme


def _short(name, width):
    return name if len(name) <= width else name[:width - 1] + "."


def _shape_text(shape):
    """'(None, 26, 26, 32)' -> '26x26x32'."""
    return "x".join(p.strip() for p in shape.strip("()").split(",") if p.strip() not in ("None", ""))


class Window:
    """All widgets of the debugger; ``update()`` (every frame) draws the worker's latest snapshot."""

    def __init__(self, worker, config, log=None):
        self.worker = worker
        self.config = config
        self.log = log
        self.version = -1
        self.generation = -1
        self.textures = {}        # key -> (texture tag, width, height)
        self.texture_data = {}    # key -> the float32 RGBA array the texture shows (kept alive here)
        self.status = ""
        self._confusion_key = None
        self._themes = {}
        self._build()

    # ----- layout ------------------------------------------------------------------------------
    def _build(self):
        dpg.add_texture_registry(tag="textures")
        with dpg.theme() as cheap_backgrounds, dpg.theme_component(dpg.mvAll):
            dpg.add_theme_color(dpg.mvThemeCol_WindowBg, BACKGROUND[:3] + (0,))
            dpg.add_theme_color(dpg.mvThemeCol_ChildBg, (0, 0, 0, 0))
            dpg.add_theme_color(dpg.mvPlotCol_FrameBg, (0, 0, 0, 0), category=dpg.mvThemeCat_Plots)
        dpg.bind_theme(cheap_backgrounds)
        colours = {"train": TRAIN, "validation": VALIDATION, "batch": BATCH, "train bars": TRAIN,
                   "validation bars": VALIDATION, "true bars": TRUE_CLASS}
        self._themes = {name: _series_theme(colour, bars=name.endswith("bars"),
                                            markers=name in ("train", "validation"))
                        for name, colour in colours.items()}
        with dpg.window(tag="main", no_scrollbar=True):
            with dpg.group(horizontal=True):
                with dpg.child_window(width=layout.LEFT_WIDTH, tag="left"):
                    self._build_controls()
                with dpg.child_window(tag="right", horizontal_scrollbar=True):
                    self._build_curves()
                    self._build_pictures()
                    self._build_weights()
        dpg.set_primary_window("main", True)

    def _build_controls(self):
        c = self.config
        w, h = layout.BUTTON
        for row in ((("Step batch", "step_batch", self.on_step_batch),
                     ("Step epoch", "step_epoch", self.on_step_epoch),
                     ("Run", "run_pause", self.on_run_pause)),
                    (("Reset", "reset", self.on_reset), ("Save weights", "save_weights", self.on_save),
                     ("Load weights", "load_weights", self.on_load))):
            with dpg.group(horizontal=True):
                for label, tag, callback in row:
                    dpg.add_button(label=label, tag=tag, width=w, height=h, callback=callback)
        dpg.add_slider_int(label="delay (ms)", tag="delay", default_value=int(round(c.delay * 1000)),
                           min_value=0, max_value=2000, width=FIELD, callback=self.on_delay)
        dpg.add_input_text(label="weights file", tag="weights_file", default_value="debugger.weights.h5",
                           width=FIELD)
        dpg.add_separator()
        dpg.add_text("Setup (Reset applies it; epochs and learning rate apply at once)", color=GREY,
                     wrap=layout.LEFT_WIDTH - 24)
        dpg.add_combo(DATASETS, label="data set", tag="dataset", default_value=c.dataset, width=FIELD)
        dpg.add_combo(MODELS, label="model", tag="model", default_value=c.model, width=FIELD)
        dpg.add_input_text(label="model file", tag="model_path", default_value=c.model_path, width=FIELD,
                           hint="path of a .json or .h5 model")
        dpg.add_input_int(label="epochs", tag="epochs", default_value=c.epochs, min_value=1,
                          min_clamped=True, width=FIELD, callback=self.on_epochs)
        dpg.add_input_int(label="batch size", tag="batch_size", default_value=c.batch_size, min_value=1,
                          min_clamped=True, width=FIELD)
        dpg.add_combo(tuple(OPTIMIZERS), label="optimizer", tag="optimizer", default_value=c.optimizer,
                      width=FIELD)
        dpg.add_input_float(label="learning rate", tag="learning_rate", default_value=c.learning_rate,
                            format="%.5g", step=0, width=FIELD, on_enter=True, callback=self.on_learning_rate)
        dpg.add_input_int(label="data limit", tag="limit", default_value=c.limit, min_value=0,
                          min_clamped=True, width=FIELD)
        dpg.add_separator()
        dpg.add_text("", tag="status", wrap=layout.LEFT_WIDTH - 24)
        dpg.add_text("", tag="progress", color=GREY, wrap=layout.LEFT_WIDTH - 24)
        dpg.add_text("", tag="ui_rate", color=GREY)
        dpg.add_separator()
        with dpg.table(tag="model_table", header_row=True, row_background=True, scrollY=True, scrollX=True,
                       borders_innerV=True, policy=dpg.mvTable_SizingFixedFit, height=-1):
            for name in ("layer", "type", "output", "params", "trains"):
                dpg.add_table_column(label=name)

    def _build_curves(self):
        hgt = layout.PLOT_ROW_HEIGHT
        with dpg.group(horizontal=True):
            with dpg.plot(label="Accuracy", width=262, height=hgt, tag="accuracy_plot"):
                dpg.add_plot_legend(location=dpg.mvPlot_Location_SouthEast)
                dpg.add_plot_axis(dpg.mvXAxis, label="epoch", tag="accuracy_x")
                with dpg.plot_axis(dpg.mvYAxis, tag="accuracy_y"):
                    dpg.add_line_series([], [], label="train (running)", tag="acc_running")
                    dpg.add_line_series([], [], label="train", tag="acc_train")
                    dpg.add_line_series([], [], label="validation", tag="acc_val")
                dpg.set_axis_limits("accuracy_y", 0.0, 1.02)
            with dpg.plot(label="Loss", width=282, height=hgt, tag="loss_plot"):
                dpg.add_plot_legend(location=dpg.mvPlot_Location_NorthEast)
                dpg.add_plot_axis(dpg.mvXAxis, label="epoch", tag="loss_x")
                with dpg.plot_axis(dpg.mvYAxis, tag="loss_y"):
                    dpg.add_line_series([], [], label="batch", tag="loss_batch")
                    dpg.add_line_series([], [], label="train", tag="loss_train")
                    dpg.add_line_series([], [], label="validation", tag="loss_val")
            with dpg.plot(label="Confusion: after the first epoch", width=290, height=hgt,
                          tag="confusion_plot", no_mouse_pos=True, no_menus=True):
                dpg.add_plot_axis(dpg.mvXAxis, label="predicted", tag="confusion_x", lock_min=True,
                                  lock_max=True)
                dpg.add_plot_axis(dpg.mvYAxis, tag="confusion_y", lock_min=True, lock_max=True)
            dpg.bind_colormap("confusion_plot", dpg.mvPlotColormap_Viridis)
        for tag, theme in (("acc_running", "batch"), ("acc_train", "train"), ("acc_val", "validation"),
                           ("loss_batch", "batch"), ("loss_train", "train"), ("loss_val", "validation")):
            dpg.bind_item_theme(tag, self._themes[theme])

    def _build_pictures(self):
        with dpg.group(horizontal=True):
            with dpg.child_window(width=290, height=layout.ACTIVATION_ROW_HEIGHT, tag="filters_panel",
                                  horizontal_scrollbar=True):
                with dpg.group(horizontal=True):
                    dpg.add_text("Filters of")
                    dpg.add_combo((), tag="filter_layer", width=-1, callback=self.on_filter_layer)
                dpg.add_text("", tag="filter_info", color=GREY, wrap=270)
                dpg.add_group(tag="filter_image_group")
            with dpg.child_window(width=552, height=layout.ACTIVATION_ROW_HEIGHT, tag="activations_panel",
                                  horizontal_scrollbar=True):
                with dpg.group(horizontal=True):
                    with dpg.group(width=130):
                        dpg.add_group(tag="input_image_group")
                        dpg.add_input_int(tag="input_index", default_value=0, min_value=0, min_clamped=True,
                                          width=130, on_enter=True, callback=self.on_input)
                        dpg.add_button(label="Next misclassified", tag="next_misclassified", width=130,
                                       callback=self.on_next_misclassified)
                    with dpg.group():
                        dpg.add_text("", tag="prediction_text")
                        with dpg.plot(tag="probabilities_plot", width=398, height=160, no_title=True,
                                      no_mouse_pos=True, no_menus=True, no_box_select=True):
                            dpg.add_plot_axis(dpg.mvXAxis, tag="prob_x")
                            with dpg.plot_axis(dpg.mvYAxis, tag="prob_y", invert=True):
                                dpg.add_bar_series([], [], horizontal=True, weight=0.7, tag="prob_bars")
                                dpg.add_bar_series([], [], horizontal=True, weight=0.7, tag="prob_true")
                            dpg.set_axis_limits("prob_x", 0.0, 1.0)
                dpg.bind_item_theme("prob_bars", self._themes["train bars"])
                dpg.bind_item_theme("prob_true", self._themes["true bars"])
                dpg.add_group(horizontal=True, tag="feature_maps")

    def _build_weights(self):
        hgt = layout.WEIGHT_ROW_HEIGHT
        with dpg.group(horizontal=True):
            dpg.add_text("Norms of every layer's weights and gradients; histograms of")
            dpg.add_combo((), tag="histogram_layer", width=150, callback=self.on_histogram_layer)
        with dpg.group(horizontal=True):
            for kind, label in (("weight", "Weight norm"), ("grad", "Gradient norm")):
                with dpg.plot(label=label, width=206, height=hgt, tag=f"{kind}_norm_plot"):
                    dpg.add_plot_legend(location=dpg.mvPlot_Location_SouthWest)
                    dpg.add_plot_axis(dpg.mvXAxis, label="epoch", tag=f"{kind}_norm_x")
                    dpg.add_plot_axis(dpg.mvYAxis, tag=f"{kind}_norm_y", scale=dpg.mvPlotScale_Log10)
                dpg.bind_colormap(f"{kind}_norm_plot", dpg.mvPlotColormap_Deep)
            for kind, label, theme in (("weight", "Weights", "train bars"),
                                       ("grad", "Gradients", "validation bars")):
                with dpg.plot(label=label, width=206, height=hgt, tag=f"{kind}_hist_plot"):
                    dpg.add_plot_axis(dpg.mvXAxis, tag=f"{kind}_hist_x")
                    with dpg.plot_axis(dpg.mvYAxis, tag=f"{kind}_hist_y"):
                        dpg.add_bar_series([], [], tag=f"{kind}_hist")
                dpg.bind_item_theme(f"{kind}_hist", self._themes[theme])

    # ----- callbacks (the buttons' and fields') --------------------------------------------------
    def read_config(self):
        """The Config the setup fields describe."""
        return dataclasses.replace(
            self.config, dataset=dpg.get_value("dataset"), model=dpg.get_value("model"),
            model_path=dpg.get_value("model_path").strip(), epochs=max(1, dpg.get_value("epochs")),
            batch_size=max(1, dpg.get_value("batch_size")), optimizer=dpg.get_value("optimizer"),
            learning_rate=float(dpg.get_value("learning_rate")), limit=max(0, dpg.get_value("limit")),
            delay=dpg.get_value("delay") / 1000.0)

    def on_step_batch(self, *_):
        self.worker.step_batch()

    def on_step_epoch(self, *_):
        self.worker.step_epoch()

    def on_run_pause(self, *_):
        if self.worker.snapshot().running:
            self.worker.pause()
        else:
            self.worker.run()

    def on_reset(self, *_):
        self.config = self.read_config()
        self.worker.reset(self.config)

    def on_save(self, *_):
        self.worker.save_weights(dpg.get_value("weights_file").strip())

    def on_load(self, *_):
        self.worker.load_weights(dpg.get_value("weights_file").strip())

    def on_delay(self, _sender, value, _user_data=None):
        self.worker.set_delay(value / 1000.0)

    def on_epochs(self, _sender, value, _user_data=None):
        self.worker.set_epochs(max(1, value))

    def on_learning_rate(self, _sender, value, _user_data=None):
        self.worker.set_learning_rate(value)

    def on_input(self, _sender, value, _user_data=None):
        self.worker.show_input(value)

    def on_next_misclassified(self, *_):
        self.worker.next_misclassified()

    def on_histogram_layer(self, _sender, value, _user_data=None):
        self.worker.show_histograms(value)

    def on_filter_layer(self, _sender, value, _user_data=None):
        self._draw_filters(self.worker.snapshot(), value)

    # ----- drawing -----------------------------------------------------------------------------
    def update(self):
        """Draw the worker's latest snapshot if it is new; True when something changed."""
        snap = self.worker.snapshot()
        if snap.version == self.version:
            return False
        if snap.generation != self.generation:
            self._new_model(snap)
        self._draw_text(snap)
        self._draw_curves(snap)
        self._draw_confusion(snap)
        self._draw_filters(snap, dpg.get_value("filter_layer"))
        self._draw_activations(snap)
        self._draw_weights(snap)
        self.version = snap.version
        return True

    def show_rate(self, fps):
        dpg.set_value("ui_rate", f"window: {fps:.0f} frames/s")

    def _texture(self, key, picture):
        """Show ``picture`` in the texture ``key`` (made, or remade at a new size, as needed); its tag."""
        known = self.textures.get(key)
        if known is None or known[1:] != (picture.width, picture.height):
            if known is not None:
                dpg.delete_item(known[0])
            tag = dpg.add_raw_texture(picture.width, picture.height, picture.data, parent="textures",
                                      format=dpg.mvFormat_Float_rgba)
            self.textures[key] = (tag, picture.width, picture.height)
        else:
            dpg.set_value(known[0], picture.data)
        self.texture_data[key] = picture.data
        return self.textures[key][0]

    def _image(self, key, picture, parent):
        dpg.add_image(self._texture(key, picture), width=picture.shown[0], height=picture.shown[1],
                      parent=parent)

    def _new_model(self, snap):
        """Drop the widgets of the previous model and make those of this one."""
        for group in ("filter_image_group", "input_image_group", "feature_maps", "weight_norm_y",
                      "grad_norm_y", "confusion_y"):
            dpg.delete_item(group, children_only=True)
        for row in dpg.get_item_children("model_table", 1) or []:
            dpg.delete_item(row)
        for tag, _, _ in self.textures.values():
            dpg.delete_item(tag)
        self.textures.clear()
        self.texture_data.clear()
        self._confusion_key = None
        dpg.set_item_label("confusion_plot", "Confusion: after the first epoch")
        for name, kind, shape, params, trainable in snap.table:
            with dpg.table_row(parent="model_table"):
                dpg.add_text(name)
                dpg.add_text(kind)
                dpg.add_text(_shape_text(shape))
                dpg.add_text(f"{params:,}")
                dpg.add_text("yes" if trainable else "no", color=WHITE if trainable else GREY)
        conv = list(snap.filters)
        dpg.configure_item("filter_layer", items=conv)
        dpg.set_value("filter_layer", conv[0] if conv else "")
        dpg.configure_item("histogram_layer", items=snap.weighted_layers)
        dpg.set_value("histogram_layer", snap.histogram_layer)
        for axis in ("weight_norm_y", "grad_norm_y"):
            for layer in snap.weighted_layers:
                dpg.add_line_series([], [], label=layer, parent=axis, tag=f"{axis}/{layer}")
        names = snap.class_names
        k = max(len(names), 1)
        dpg.set_axis_ticks("prob_y", tuple((_short(n, 12), i) for i, n in enumerate(names)) or (("", 0),))
        dpg.set_axis_limits("prob_y", -0.5, k - 0.5)
        dpg.set_axis_ticks("confusion_x", tuple((str(i), i + 0.5) for i in range(len(names))) or (("", 0),))
        rows = tuple((f"{_short(n, 7)} {i}", k - i - 0.5) for i, n in enumerate(names))
        dpg.set_axis_ticks("confusion_y", rows or (("", 0),))
        dpg.set_axis_limits("confusion_x", 0, k)
        dpg.set_axis_limits("confusion_y", 0, k)
        self.generation = snap.generation

    def _draw_text(self, snap):
        if snap.status != self.status:
            self.status = snap.status
            if self.log is not None:
                self.log(snap.status)
        dpg.set_value("status", snap.status)
        dpg.configure_item("status", color=RED if snap.state == "error" else WHITE)
        dpg.set_item_label("run_pause", "Pause" if snap.running else "Run")
        if snap.steps_per_epoch:
            dpg.set_value("progress", f"{snap.model_name}: {snap.steps} batches trained, "
                                      f"{snap.steps_per_second:.1f} batches/s, "
                                      f"learning rate {snap.learning_rate:g}")
        else:
            dpg.set_value("progress", "")

    def _draw_curves(self, snap):
        epochs = snap.epoch_numbers.tolist()
        for tag, key in (("acc_train", "accuracy"), ("acc_val", "val_accuracy"), ("loss_train", "loss"),
                         ("loss_val", "val_loss")):
            values = snap.epoch_logs.get(key)
            dpg.set_value(tag, [epochs, values.tolist()] if values is not None else [[], []])
        x = (snap.batch_steps / max(snap.steps_per_epoch, 1)).tolist()
        dpg.set_value("loss_batch", [x, snap.batch_loss.tolist()])
        dpg.set_value("acc_running", [x, snap.running_accuracy.tolist()])
        for axis in ("accuracy_x", "loss_x", "loss_y"):
            dpg.fit_axis_data(axis)

    def _draw_confusion(self, snap):
        key = (snap.generation, snap.confusion_epoch)
        if snap.confusion is None or key == self._confusion_key:
            return
        self._confusion_key = key
        k = len(snap.confusion)
        counts = snap.confusion.astype(np.float64)
        percent = 100 * counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        dpg.delete_item("confusion_y", children_only=True)
        dpg.add_heat_series(percent.ravel().tolist(), k, k, parent="confusion_y", scale_min=0, scale_max=100,
                            bounds_min=(0, 0), bounds_max=(k, k), format="%.0f" if k <= 10 else "",
                            tag="confusion")
        dpg.set_item_label("confusion_plot", f"Confusion in % (epoch {snap.confusion_epoch})")

    def _draw_filters(self, snap, layer):
        dpg.delete_item("filter_image_group", children_only=True)
        shape, picture = snap.filters.get(layer, (None, None))
        if picture is None:
            dpg.set_value("filter_info", "This model has no Conv2D layer." if not snap.filters else "")
            return
        kh, kw, c, f = shape
        if c in (1, 3):
            layout_text = "one tile per filter" + (", in colour" if c == 3 else "; blue < 0 < red")
        else:
            layout_text = "a row per filter, a tile per input channel; blue < 0 < red"
        dpg.set_value("filter_info", f"{f} filters of {kh}x{kw}x{c}: {layout_text}")
        self._image(("filters", layer), picture, "filter_image_group")

    def _draw_activations(self, snap):
        dpg.delete_item("input_image_group", children_only=True)
        dpg.delete_item("feature_maps", children_only=True)
        if snap.input_picture is None:
            dpg.set_value("prediction_text", "")
            return
        self._image("input", snap.input_picture, "input_image_group")
        if not dpg.is_item_active("input_index"):
            dpg.set_value("input_index", snap.input_index)
        p, names = snap.probabilities, snap.class_names
        if len(p) == len(names) and len(p):
            guess = int(np.argmax(p))
            verdict = "right" if guess == snap.input_label else "wrong"
            dpg.set_value("prediction_text", f"Image {snap.input_index}: {names[snap.input_label]}, "
                                             f"predicted {names[guess]} ({p[guess]:.0%}): {verdict}")
            positions = list(range(len(p)))
            dpg.set_value("prob_bars", [p.tolist(), positions])
            true_only = np.zeros_like(p)
            true_only[snap.input_label] = p[snap.input_label]
            dpg.set_value("prob_true", [true_only.tolist(), positions])
        for name, shape, picture in snap.activations:
            with dpg.group(parent="feature_maps") as group:
                dpg.add_text(f"{name} {_shape_text(shape)}", color=GREY)
                self._image(("activation", name), picture, group)

    def _draw_weights(self, snap):
        x = (snap.batch_steps / max(snap.steps_per_epoch, 1)).tolist()
        for kind, norms in (("weight", snap.weight_norms), ("grad", snap.grad_norms)):
            for layer, values in norms.items():
                tag = f"{kind}_norm_y/{layer}"
                if dpg.does_item_exist(tag):
                    dpg.set_value(tag, [x, values.tolist()])
            dpg.fit_axis_data(f"{kind}_norm_x")
            dpg.fit_axis_data(f"{kind}_norm_y")
        for kind, hist in (("weight", snap.weight_histogram), ("grad", snap.grad_histogram)):
            if len(hist) and len(hist[0]):
                centres, counts = hist
                width = float(centres[1] - centres[0]) if len(centres) > 1 else 1.0
                dpg.set_value(f"{kind}_hist", [centres.tolist(), counts.tolist()])
                dpg.configure_item(f"{kind}_hist", weight=width)
            else:
                dpg.set_value(f"{kind}_hist", [[], []])
            dpg.fit_axis_data(f"{kind}_hist_x")
            dpg.fit_axis_data(f"{kind}_hist_y")
        title = snap.histogram_layer or "-"
        dpg.set_item_label("weight_hist_plot", f"Weights of {title}")
        dpg.set_item_label("grad_hist_plot", f"Gradients of {title}")
