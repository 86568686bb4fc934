"""The debugger window: DearPyGui widgets, the callbacks of its buttons, and drawing a worker Snapshot.

Everything here runs on the UI thread. It sends the worker commands and reads its snapshots; it never
calls numbacnn itself. The left column holds the controls, the rewind slider, the setup and the model
table; the right side has four tabs: Training (curves, confusion matrix, norms, histograms), Network (the
model drawn as a graph, the selected layer's filters), Feature maps (every layer's output for the chosen
image) and Explain (saliency, Grad-CAM, and how one convolution output is computed). Clicking a layer in
the graph or the table selects it in every view. The panels follow the window's size (``layout.sizes``).
"""

import dataclasses
import math

import dearpygui.dearpygui as dpg
import numpy as np

from . import images, layout
from .worker import DATASETS, MODELS, OPTIMIZERS

WHITE = (230, 230, 235, 255)
GREY = (150, 150, 160, 255)
RED = (240, 110, 100, 255)
YELLOW = (250, 220, 90, 255)
TRAIN = (90, 160, 250, 255)
VALIDATION = (250, 160, 60, 255)
BATCH = (150, 150, 160, 150)
TRUE_CLASS = (90, 200, 120, 255)
FIELD = 190
"""Width of the setup fields."""
BACKGROUND = (37, 37, 38, 255)
"""The window's colour. The viewport is cleared to it and the windows themselves are transparent: software
OpenGL (Xvfb) then blends a million fewer pixels a frame."""
BOX = (236, 40)
"""Size of a layer's box in the graph drawing; ``BOX_GAP`` between boxes."""
BOX_GAP = (24, 22)
KIND_COLOURS = {"Conv": (60, 100, 170), "Dense": (150, 80, 150), "Pool": (60, 130, 110),
                "Normalization": (130, 110, 60), "Input": (90, 90, 100), "Add": (160, 90, 60),
                "Concatenate": (160, 90, 60)}
SCALE_WIDTH = 64
"""Width of a colour bar."""


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


def _shape_text(shape):
    """'(None, 26, 26, 32)' -> '26x26x32'."""
    text = str(shape)
    return "x".join(p.strip() for p in text.strip("()[]").split(",") if p.strip() not in ("None", ""))


def _kind_colour(class_name):
    for key, colour in KIND_COLOURS.items():
        if key in class_name:
            return colour
    return (80, 80, 90)


def log_ticks(lo, hi):
    """Tick (label, value) pairs for a log axis from ``lo`` to ``hi`` (> 0): 1-2-5 steps per decade, or
    only the decades when the range spans more than three."""
    if not (lo > 0 and hi > 0 and math.isfinite(lo) and math.isfinite(hi)):
        return ()
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    steps = (1,) if last - first > 3 else (1, 2, 5)
    ticks = []
    for e in range(first, last + 1):
        for m in steps:
            v = m * 10.0 ** e
            if lo <= v <= hi:
                ticks.append((f"{v:.0e}".replace("e+0", "e").replace("e-0", "e-") if abs(e) > 2 else f"{v:g}",
                              v))
    if len(ticks) < 2:   # a narrow range: its ends
        ticks = [(f"{lo:.3g}", lo), (f"{hi:.3g}", hi)]
    return tuple(ticks)


def graph_layout(graph):
    """Box positions for a model graph (``inspect.model_graph``): {name: (x, y)} top-left corners, and the
    drawing's (width, height). Layers flow down by depth (the longest path from the input); the layers of
    one depth (the branches of a ResNet or Inception block) sit side by side, centred."""
    depth, rows = {}, {}
    for node in graph:
        d = 1 + max((depth.get(name, 0) for name in node["inbound"]), default=-1)
        depth[node["name"]] = d
        rows.setdefault(d, []).append(node["name"])
    widest = max((len(v) for v in rows.values()), default=1)
    width = widest * BOX[0] + (widest - 1) * BOX_GAP[0] + 2 * BOX_GAP[0]
    positions = {}
    for d, names in rows.items():
        span = len(names) * BOX[0] + (len(names) - 1) * BOX_GAP[0]
        x0 = (width - span) // 2
        for i, name in enumerate(names):
            positions[name] = (x0 + i * (BOX[0] + BOX_GAP[0]), BOX_GAP[1] // 2 + d * (BOX[1] + BOX_GAP[1]))
    height = (max(rows, default=0) + 1) * (BOX[1] + BOX_GAP[1]) + BOX_GAP[1]
    return positions, (width + 3 * SKIP_LANE * 2, height)


SKIP_LANE = 9
"""Horizontal spacing of the lanes that skip connections (edges over more than one row) run in."""


def edge_path(source, target, lane, right_edge):
    """The points of an arrow from box ``source`` to box ``target`` (top-left corners): straight down
    between adjacent rows, else out of the source's right side, down a lane right of every box, and into
    the target's right side (a ResNet's identity shortcut stays visible beside the blocks it skips)."""
    (sx, sy), (tx, ty) = source, target
    if ty - sy <= BOX[1] + BOX_GAP[1]:
        return [(sx + BOX[0] / 2, sy + BOX[1]), (tx + BOX[0] / 2, ty)]
    x = min(right_edge, max(sx, tx) + BOX[0]) + SKIP_LANE * (1 + lane % 3)
    return [(sx + BOX[0], sy + BOX[1] / 2), (x, sy + BOX[1] / 2), (x, ty + BOX[1] / 2),
            (tx + BOX[0], ty + BOX[1] / 2)]


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
        self.selected = ""
        self.graph_boxes = {}     # layer -> (x, y, w, h) in the graph drawing
        self.cell_geometry = None  # (layer, filter, rows, cols, shown size) of the Explain map
        self.sizes = None
        self._confusion_key = None
        self._themes = {}
        self._build()

    # ----- layout ------------------------------------------------------------------------------
    def _build(self):
        dpg.add_texture_registry(tag="textures")
        with dpg.colormap_registry():
            for name in ("viridis", "diverging", "hot"):
                colours = [[int(255 * c) for c in rgb] + [255] for rgb in images.stops(name)]
                dpg.add_colormap(colours, False, tag=f"colormap_{name}")
        with dpg.theme() as cheap_backgrounds, dpg.theme_component(dpg.mvAll):
            dpg.add_theme_color(dpg.mvThemeCol_WindowBg, BACKGROUND[:3] + (0,))
            dpg.add_theme_color(dpg.mvThemeCol_ChildBg, (0, 0, 0, 0))
            dpg.add_theme_color(dpg.mvPlotCol_FrameBg, (0, 0, 0, 0), category=dpg.mvThemeCat_Plots)
            # faint grid lines: ImPlot draws the last one of each axis twice, which at the default alpha
            # read as a stray line across the plot (at loss 2.0, at accuracy 0)
            dpg.add_theme_color(dpg.mvPlotCol_AxisGrid, (255, 255, 255, 26), category=dpg.mvThemeCat_Plots)
            for hovered in (dpg.mvPlotCol_AxisBgHovered, dpg.mvPlotCol_AxisBgActive):   # no blue slab
                dpg.add_theme_color(hovered, (255, 255, 255, 18), category=dpg.mvThemeCat_Plots)
        dpg.bind_theme(cheap_backgrounds)
        colours = {"train": TRAIN, "validation": VALIDATION, "batch": BATCH, "train bars": TRAIN,
                   "validation bars": VALIDATION, "true bars": TRUE_CLASS, "marker": YELLOW}
        self._themes = {name: _series_theme(colour, bars=name.endswith("bars"),
                                            markers=name in ("train", "validation"))
                        for name, colour in colours.items()}
        with dpg.window(tag="main", no_scrollbar=True):
            with dpg.group(horizontal=True):
                with dpg.child_window(width=layout.left_width(layout.VIEWPORT[0]), tag="left"):
                    self._build_controls()
                with dpg.child_window(tag="right", no_scrollbar=True):
                    with dpg.tab_bar(tag="tabs", callback=self.on_tab):
                        with dpg.tab(label="Training", tag="tab_training"):
                            self._build_curves()
                            self._build_weights()
                        with dpg.tab(label="Network", tag="tab_network"):
                            self._build_network()
                        with dpg.tab(label="Feature maps", tag="tab_feature_maps"):
                            self._build_pictures()
                        with dpg.tab(label="Explain", tag="tab_explain"):
                            self._build_explain()
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
        dpg.add_text("Rewind: the weights kept at each epoch's end and every few batches", color=GREY,
                     tag="rewind_help", wrap=0)
        dpg.add_slider_int(tag="rewind", min_value=0, max_value=0, default_value=0, width=-1,
                           callback=self.on_rewind, format="")
        with dpg.group(horizontal=True):
            dpg.add_button(label="Resume from here", tag="resume", callback=self.on_resume, width=w + 40)
            dpg.add_button(label="Live", tag="live", callback=self.on_live, width=60)
        dpg.add_text("live weights", tag="rewind_label", color=GREY)
        dpg.add_separator()
        with dpg.collapsing_header(label="Setup (Reset applies it)", default_open=False, tag="setup"):
            dpg.add_combo(DATASETS, label="data set", tag="dataset", default_value=c.dataset, width=FIELD)
            dpg.add_combo(MODELS, label="model", tag="model", default_value=c.model, width=FIELD)
            dpg.add_input_text(label="model file", tag="model_path", default_value=c.model_path,
                               width=FIELD, hint="path of a .json or .h5 model")
            dpg.add_input_int(label="epochs", tag="epochs", default_value=c.epochs, min_value=1,
                              min_clamped=True, width=FIELD, callback=self.on_epochs)
            dpg.add_input_int(label="batch size", tag="batch_size", default_value=c.batch_size,
                              min_value=1, min_clamped=True, width=FIELD)
            dpg.add_combo(tuple(OPTIMIZERS), label="optimizer", tag="optimizer", default_value=c.optimizer,
                          width=FIELD)
            dpg.add_input_float(label="learning rate", tag="learning_rate", default_value=c.learning_rate,
                                format="%.5g", step=0, width=FIELD, on_enter=True,
                                callback=self.on_learning_rate)
            dpg.add_input_int(label="data limit", tag="limit", default_value=c.limit, min_value=0,
                              min_clamped=True, width=FIELD)
        dpg.add_separator()
        dpg.add_text("", tag="status", wrap=0)
        dpg.add_text("", tag="progress", color=GREY, wrap=0)
        dpg.add_text("", tag="ui_rate", color=GREY)
        dpg.add_separator()
        with dpg.table(tag="model_table", header_row=True, row_background=True, scrollY=True,
                       borders_innerV=True, policy=dpg.mvTable_SizingStretchProp, height=-1):
            for name, weight in (("layer", 1.3), ("type", 1.2), ("output", 1.0), ("params", 0.8)):
                dpg.add_table_column(label=name, init_width_or_weight=weight)

    def _build_curves(self):
        with dpg.group(horizontal=True):
            with dpg.plot(label="Accuracy", tag="accuracy_plot"):
                dpg.add_plot_legend(location=dpg.mvPlot_Location_North, horizontal=True, outside=True)
                dpg.add_plot_axis(dpg.mvXAxis, label="epoch", tag="accuracy_x")
                with dpg.plot_axis(dpg.mvYAxis, tag="accuracy_y"):
                    dpg.add_line_series([], [], label="running", tag="acc_running")
                    dpg.add_line_series([], [], label="train", tag="acc_train")
                    dpg.add_line_series([], [], label="val", tag="acc_val")
                dpg.set_axis_limits("accuracy_y", 0.0, 1.02)
            with dpg.plot(label="Loss", tag="loss_plot"):
                dpg.add_plot_legend(location=dpg.mvPlot_Location_North, horizontal=True, outside=True)
                dpg.add_plot_axis(dpg.mvXAxis, label="epoch", tag="loss_x")
                with dpg.plot_axis(dpg.mvYAxis, tag="loss_y"):
                    dpg.add_line_series([], [], label="batch", tag="loss_batch")
                    dpg.add_line_series([], [], label="train", tag="loss_train")
                    dpg.add_line_series([], [], label="val", tag="loss_val")
                    dpg.add_inf_line_series([], tag="rewind_line")
            with dpg.plot(label="Confusion", tag="confusion_plot", no_mouse_pos=True, no_menus=True):
                dpg.add_plot_axis(dpg.mvXAxis, label="predicted", tag="confusion_x", lock_min=True,
                                  lock_max=True, no_tick_marks=True, no_gridlines=True)
                dpg.add_plot_axis(dpg.mvYAxis, label="true", tag="confusion_y", lock_min=True, lock_max=True,
                                  no_tick_marks=True, no_gridlines=True)
            dpg.bind_colormap("confusion_plot", "colormap_viridis")
        for tag, theme in (("acc_running", "batch"), ("acc_train", "train"), ("acc_val", "validation"),
                           ("loss_batch", "batch"), ("loss_train", "train"), ("loss_val", "validation"),
                           ("rewind_line", "marker")):
            dpg.bind_item_theme(tag, self._themes[theme])

    def _build_weights(self):
        with dpg.group(horizontal=True):
            dpg.add_text("Norms of every layer's weights and gradients (log scale); histograms of")
            dpg.add_combo((), tag="histogram_layer", width=170, callback=self.on_histogram_layer)
        with dpg.group(horizontal=True):
            for kind, label in (("weight", "Weight norm"), ("grad", "Gradient norm")):
                with dpg.plot(label=label, tag=f"{kind}_norm_plot"):
                    dpg.add_plot_legend(location=dpg.mvPlot_Location_East, outside=True)
                    dpg.add_plot_axis(dpg.mvXAxis, label="epoch", tag=f"{kind}_norm_x")
                    dpg.add_plot_axis(dpg.mvYAxis, tag=f"{kind}_norm_y", scale=dpg.mvPlotScale_Log10)
                dpg.bind_colormap(f"{kind}_norm_plot", dpg.mvPlotColormap_Deep)
            for kind, label, theme in (("weight", "Weights", "train bars"),
                                       ("grad", "Gradients", "validation bars")):
                with dpg.plot(label=label, tag=f"{kind}_hist_plot"):
                    dpg.add_plot_axis(dpg.mvXAxis, tag=f"{kind}_hist_x")
                    with dpg.plot_axis(dpg.mvYAxis, tag=f"{kind}_hist_y"):
                        dpg.add_bar_series([], [], tag=f"{kind}_hist")
                dpg.bind_item_theme(f"{kind}_hist", self._themes[theme])

    def _build_network(self):
        with dpg.group(horizontal=True):
            with dpg.child_window(tag="graph_panel", horizontal_scrollbar=True):
                dpg.add_text("The model: click a layer to select it in every view", color=GREY)
                dpg.add_drawlist(10, 10, tag="graph")
            with dpg.child_window(tag="filters_panel"):
                dpg.add_text("", tag="layer_info", wrap=0)
                dpg.add_text("", tag="filter_info", color=GREY, wrap=0)
                with dpg.group(horizontal=True):
                    dpg.add_colormap_scale(tag="filter_scale", colormap="colormap_diverging",
                                           width=SCALE_WIDTH, height=200, min_scale=-1, max_scale=1,
                                           show=False)
                    dpg.add_group(tag="filter_image_group")
        with dpg.item_handler_registry(tag="graph_handlers"):
            dpg.add_item_clicked_handler(callback=lambda *_: self.on_graph_click(dpg.get_drawing_mouse_pos()))
        dpg.bind_item_handler_registry("graph", "graph_handlers")

    def _build_pictures(self):
        with dpg.group(horizontal=True):
            with dpg.group(width=150):
                dpg.add_group(tag="input_image_group")
                dpg.add_input_int(tag="input_index", default_value=0, min_value=0, min_clamped=True,
                                  width=140, on_enter=True, callback=self.on_input)
                dpg.add_button(label="Next misclassified", tag="next_misclassified", width=140,
                               callback=self.on_next_misclassified)
            with dpg.group():
                dpg.add_text("", tag="prediction_text")
                with dpg.plot(tag="probabilities_plot", width=420, height=170, no_title=True,
                              no_mouse_pos=True, no_menus=True, no_box_select=True):
                    dpg.add_plot_axis(dpg.mvXAxis, tag="prob_x")
                    with dpg.plot_axis(dpg.mvYAxis, tag="prob_y", invert=True, no_tick_marks=True):
                        dpg.add_bar_series([], [], horizontal=True, weight=0.7, tag="prob_bars")
                        dpg.add_bar_series([], [], horizontal=True, weight=0.7, tag="prob_true")
                    dpg.set_axis_limits("prob_x", 0.0, 1.0)
            dpg.add_text("Every layer's output for this image, one tile per channel; the bar beside each\n"
                         "gives its colour scale (the layer's min to max). Click a layer's name to select\n"
                         "it; the Explain tab shows how a convolution computed one value.", color=GREY)
        dpg.bind_item_theme("prob_bars", self._themes["train bars"])
        dpg.bind_item_theme("prob_true", self._themes["true bars"])
        with dpg.child_window(tag="maps_panel"):
            dpg.add_group(tag="feature_maps")

    def _build_explain(self):
        with dpg.group(horizontal=True, tag="explain_top"):
            for tag, title in (("explain_input", "input"), ("explain_saliency", "saliency |d p / d input|"),
                               ("explain_cam", "Grad-CAM")):
                with dpg.group():
                    dpg.add_text(title, tag=f"{tag}_title", color=GREY)
                    dpg.add_group(tag=tag)
            dpg.add_text("", tag="explain_why", color=GREY, wrap=320)
        dpg.add_separator()
        with dpg.group(horizontal=True):
            dpg.add_text("Convolution")
            dpg.add_combo((), tag="explain_layer", width=160, callback=self.on_explain_layer)
            dpg.add_text("filter")
            dpg.add_input_int(tag="explain_filter", default_value=0, min_value=0, min_clamped=True, width=110,
                              on_enter=True, callback=self.on_explain_filter)
            dpg.add_text("click a cell of its map to see how it was computed", color=GREY)
        with dpg.group(horizontal=True):
            with dpg.group():
                dpg.add_text("", tag="cell_map_title", color=GREY)
                with dpg.group(horizontal=True):
                    dpg.add_drawlist(10, 10, tag="cell_map")
                    dpg.add_colormap_scale(tag="cell_scale", colormap="colormap_viridis", width=SCALE_WIDTH,
                                           height=200, show=False)
            with dpg.group():
                dpg.add_text("", tag="field_title", color=GREY)
                dpg.add_drawlist(10, 10, tag="field_group")
        with dpg.child_window(tag="explain_numbers", border=False, horizontal_scrollbar=True):
            dpg.add_text("", tag="explain_text")
        with dpg.item_handler_registry(tag="cell_handlers"):
            dpg.add_item_clicked_handler(callback=lambda *_: self.on_cell_click(dpg.get_drawing_mouse_pos()))
        dpg.bind_item_handler_registry("cell_map", "cell_handlers")

    def relayout(self, width, height):
        """Size every panel for a viewport of ``width`` x ``height`` (``layout.sizes``)."""
        s = self.sizes = layout.sizes(width, height)
        dpg.configure_item("left", width=s["left"][0])
        for tag in ("accuracy_plot", "loss_plot"):
            dpg.configure_item(tag, width=s["curve"][0], height=s["curve"][1])
        dpg.configure_item("confusion_plot", width=s["confusion"][0], height=s["confusion"][1])
        for tag in ("weight_norm_plot", "grad_norm_plot"):
            dpg.configure_item(tag, width=int(s["norm"][0] * 1.25), height=s["norm"][1])
        for tag in ("weight_hist_plot", "grad_hist_plot"):
            dpg.configure_item(tag, width=int(s["norm"][0] * 0.75) - 4, height=s["norm"][1])
        dpg.configure_item("graph_panel", width=s["graph"][0], height=s["graph"][1])
        dpg.configure_item("filters_panel", width=s["filters"][0], height=s["graph"][1])
        dpg.configure_item("maps_panel", height=s["maps"][1])
        for tag in ("rewind_help", "status", "progress", "filter_info", "layer_info"):
            dpg.configure_item(tag, wrap=(s["left"][0] if tag in ("rewind_help", "status", "progress")
                                          else s["filters"][0]) - 24)
        dpg.configure_item("explain_why", wrap=max(200, s["right"][0] - 3 * s["explain"][0] - 40))
        dpg.configure_item("explain_numbers", height=max(120, s["right"][1] - 2 * s["explain"][0] - 150))
        self.worker.set_view_width(s["maps"][0] - SCALE_WIDTH - 30)

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
        self.select_layer(value)

    def on_rewind(self, _sender, value, _user_data=None):
        n = len(self.worker.snapshot().history)
        self.worker.view_snapshot(value if value < n - 1 else -1)

    def on_live(self, *_):
        self.worker.view_snapshot(-1)

    def on_resume(self, *_):
        self.worker.resume_from_snapshot()

    def on_tab(self, _sender, value, _user_data=None):
        self.worker.set_details(dpg.get_item_alias(value) == "tab_explain" or value == "tab_explain")

    def show_tab(self, name):
        """Bring tab ``name`` (one of ``layout.TABS``) to the front, as clicking it does."""
        tag = "tab_" + name.lower().replace(" ", "_")
        dpg.set_value("tabs", tag)
        self.on_tab("tabs", tag)

    def select_layer(self, name):
        """Select layer ``name`` in every view (the graph, the table, filters, histograms, Explain)."""
        if name:
            self.worker.select_layer(name)

    def on_graph_click(self, pos):
        """A click at ``pos`` (drawing coordinates) in the graph: select the layer whose box it hits."""
        for name, (x, y, w, h) in self.graph_boxes.items():
            if x <= pos[0] <= x + w and y <= pos[1] <= y + h:
                self.select_layer(name)
                return name
        return None

    def on_explain_layer(self, _sender, value, _user_data=None):
        self.select_layer(value)

    def on_explain_filter(self, _sender, value, _user_data=None):
        if self.cell_geometry is not None:
            layer, _, rows, cols, _ = self.cell_geometry
            self.worker.explain_cell(layer, rows // 2, cols // 2, value)

    def on_cell_click(self, pos):
        """A click at ``pos`` (drawing coordinates) on the Explain map: explain that output cell."""
        if self.cell_geometry is None:
            return None
        layer, filt, rows, cols, (w, h) = self.cell_geometry
        if not (0 <= pos[0] < w and 0 <= pos[1] < h):
            return None
        cell = (int(pos[1] * rows / h), int(pos[0] * cols / w))
        self.worker.explain_cell(layer, cell[0], cell[1], filt)
        return cell

    # ----- drawing -----------------------------------------------------------------------------
    def update(self):
        """Draw the worker's latest snapshot if it is new; True when something changed."""
        size = (dpg.get_viewport_client_width(), dpg.get_viewport_client_height())
        if size[0] > 0 and size != getattr(self, "_viewport_size", None):
            self._viewport_size = size
            self.relayout(*size)
        snap = self.worker.snapshot()
        if snap.version == self.version:
            return False
        if snap.generation != self.generation:
            self._new_model(snap)
        self._draw_text(snap)
        self._draw_selection(snap)
        self._draw_curves(snap)
        self._draw_confusion(snap)
        self._draw_filters(snap)
        self._draw_activations(snap)
        self._draw_weights(snap)
        self._draw_rewind(snap)
        self._draw_explain(snap)
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

    def _image(self, key, picture, parent, box=None):
        """Add ``picture`` to ``parent``, at its own size or scaled to fit the square ``box``."""
        w, h = picture.shown
        if box is not None:
            scale = box / max(picture.width, picture.height)
            w, h = max(1, int(picture.width * scale)), max(1, int(picture.height * scale))
        dpg.add_image(self._texture(key, picture), width=w, height=h, parent=parent)

    def _new_model(self, snap):
        """Drop the widgets of the previous model and make those of this one."""
        for group in ("filter_image_group", "input_image_group", "feature_maps", "weight_norm_y",
                      "grad_norm_y", "confusion_y", "graph", "explain_input", "explain_saliency",
                      "explain_cam", "cell_map", "field_group"):
            dpg.delete_item(group, children_only=True)
        for row in dpg.get_item_children("model_table", 1) or []:
            dpg.delete_item(row)
        for tag, _, _ in self.textures.values():
            dpg.delete_item(tag)
        self.textures.clear()
        self.texture_data.clear()
        self._confusion_key = None
        self.cell_geometry = None
        self.selected = ""
        dpg.set_item_label("confusion_plot", "Confusion")
        for name, kind, shape, params, trainable in snap.table:
            with dpg.table_row(parent="model_table"):
                dpg.add_selectable(label=name, tag=f"row/{name}", span_columns=True,
                                   callback=lambda s, a, u: self.select_layer(u), user_data=name)
                dpg.add_text(kind)
                dpg.add_text(_shape_text(shape))
                dpg.add_text(f"{params:,}" + ("" if trainable or not params else " (frozen)"))
        self._draw_graph(snap)
        dpg.configure_item("histogram_layer", items=snap.weighted_layers)
        dpg.set_value("histogram_layer", snap.histogram_layer)
        dpg.configure_item("explain_layer", items=list(snap.conv_layers))
        for axis in ("weight_norm_y", "grad_norm_y"):
            for layer in snap.weighted_layers:
                dpg.add_line_series([], [], label=layer, parent=axis, tag=f"{axis}/{layer}")
        names = snap.class_names
        k = max(len(names), 1)
        dpg.set_axis_ticks("prob_y", tuple((n, i) for i, n in enumerate(names)) or (("", 0),))
        dpg.set_axis_limits("prob_y", -0.5, k - 0.5)
        dpg.set_axis_ticks("confusion_x", tuple((str(i), i + 0.5) for i in range(len(names))) or (("", 0),))
        rows = tuple((f"{n} {i}", k - i - 0.5) for i, n in enumerate(names))
        dpg.set_axis_ticks("confusion_y", rows or (("", 0),))
        dpg.set_axis_limits("confusion_x", 0, k)
        dpg.set_axis_limits("confusion_y", 0, k)
        for kind in ("weight", "grad"):
            dpg.set_axis_limits(f"{kind}_norm_y", 1e-3, 10.0)
        self.generation = snap.generation

    def _draw_graph(self, snap):
        """The model as boxes (name, type, output shape) and arrows (tensors), flowing down."""
        dpg.delete_item("graph", children_only=True)
        self.graph_boxes = {}
        if not snap.graph:
            dpg.configure_item("graph", width=10, height=10)
            return
        positions, (width, height) = graph_layout(snap.graph)
        dpg.configure_item("graph", width=width, height=height)
        right_edge = max(x for x, _ in positions.values()) + BOX[0]
        lane = 0
        for node in snap.graph:
            for source in node["inbound"]:
                if source not in positions:
                    continue
                points = edge_path(positions[source], positions[node["name"]], lane, right_edge)
                lane += len(points) > 2
                colour = GREY if len(points) == 2 else (120, 170, 230, 255)
                if len(points) > 2:
                    dpg.draw_polyline(points[:-1], color=colour, thickness=1.5, parent="graph")
                dpg.draw_arrow(points[-1], points[-2], color=colour, thickness=1.5, size=5, parent="graph")
        for node in snap.graph:
            name = node["name"]
            x, y = positions[name]
            self.graph_boxes[name] = (x, y, BOX[0], BOX[1])
            colour = _kind_colour(node["class_name"])
            dpg.draw_rectangle((x, y), (x + BOX[0], y + BOX[1]), fill=colour + (255,), color=colour + (255,),
                               rounding=4, parent="graph", tag=f"box/{name}")
            dpg.draw_text((x + 6, y + 3), f"{name} ({node['class_name']})", size=13, color=WHITE,
                          parent="graph")
            shapes = ", ".join(_shape_text(s) or "-" for s in node["output_shapes"])
            dpg.draw_text((x + 6, y + 21), shapes, size=13, color=(200, 200, 210, 255), parent="graph")

    def _draw_selection(self, snap):
        if snap.selected == self.selected:
            return
        for name in (self.selected, snap.selected):
            if dpg.does_item_exist(f"box/{name}"):
                chosen = name == snap.selected
                colour = _kind_colour(next((n["class_name"] for n in snap.graph if n["name"] == name), ""))
                dpg.configure_item(f"box/{name}", color=YELLOW if chosen else colour + (255,),
                                   thickness=3 if chosen else 1)
            if dpg.does_item_exist(f"row/{name}"):
                dpg.set_value(f"row/{name}", name == snap.selected)
        self.selected = snap.selected
        if snap.selected in snap.weighted_layers:
            dpg.set_value("histogram_layer", snap.selected)
        if snap.selected in snap.conv_layers:
            dpg.set_value("explain_layer", snap.selected)

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
        if x:
            for axis in ("accuracy_x", "loss_x", "loss_y"):
                dpg.fit_axis_data(axis)
        else:   # nothing trained yet: a clean frame, no stray lines from an empty fit
            for axis in ("accuracy_x", "loss_x"):
                dpg.set_axis_limits(axis, 0.0, 1.0)
                dpg.set_axis_limits_auto(axis)
            dpg.set_axis_limits("loss_y", 0.0, 1.0)
            dpg.set_axis_limits_auto("loss_y")

    def _draw_confusion(self, snap):
        key = (snap.generation, snap.confusion_epoch)
        if snap.confusion is None or key == self._confusion_key:
            return
        self._confusion_key = key
        k = len(snap.confusion)
        counts = snap.confusion.astype(np.float64)
        percent = 100 * counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        dpg.delete_item("confusion_y", children_only=True)
        cell = (self.sizes["confusion"][0] - 150) / k if self.sizes else 30
        dpg.add_heat_series(percent.ravel().tolist(), k, k, parent="confusion_y", scale_min=0, scale_max=100,
                            bounds_min=(0, 0), bounds_max=(k, k), format="%.0f" if cell >= 24 else "",
                            tag="confusion")
        when = "untrained" if snap.confusion_epoch == 0 else f"epoch {snap.confusion_epoch}"
        dpg.set_item_label("confusion_plot", f"Confusion % ({when})")

    def _draw_filters(self, snap):
        dpg.delete_item("filter_image_group", children_only=True)
        layer = snap.selected
        kind = next((row[1] for row in snap.table if row[0] == layer), "")
        shape = next((row[2] for row in snap.table if row[0] == layer), "")
        params = next((row[3] for row in snap.table if row[0] == layer), 0)
        dpg.set_value("layer_info", f"Selected: {layer} ({kind}), output {_shape_text(shape) or '-'}, "
                                    f"{params:,} parameters" if layer else "")
        kernel_shape, picture = snap.filters.get(layer, (None, None))
        if picture is None:
            dpg.configure_item("filter_scale", show=False)
            if snap.state == "error" and not snap.table:
                text = "No model: see the status line."
            elif snap.filters:
                text = (f"{layer} has no 2-D filters. Click a convolution in the graph "
                        f"({', '.join(snap.filters)}) to see its filters.")
            else:
                text = "This model has no Conv2D layer, so there are no filters to show."
            dpg.set_value("filter_info", text)
            return
        kh, kw, c, f = kernel_shape
        if c in (1, 3):
            layout_text = "one tile per filter" + (", in colour (min-max per filter)" if c == 3 else "")
        else:
            layout_text = (f"a row per filter{' (the first 64)' if f > 64 else ''}, a tile per input "
                           f"channel{' (the first 32)' if c > 32 else ''}")
        top = snap.filter_range.get(layer, 1.0) or 1.0
        dpg.set_value("filter_info", f"{f} filters of {kh}x{kw}x{c}: {layout_text}. Colour: the weight, "
                                     f"blue < 0 < red, white 0 (the bar's scale).")
        dpg.configure_item("filter_scale", show=c != 3, min_scale=-top, max_scale=top,
                           height=max(120, min(picture.shown[1], 420)))
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
            dpg.set_value("prediction_text", f"Validation image {snap.input_index}: "
                                             f"{names[snap.input_label]}, predicted {names[guess]} "
                                             f"({p[guess]:.0%}): {verdict}")
            positions = list(range(len(p)))
            dpg.set_value("prob_bars", [p.tolist(), positions])
            true_only = np.zeros_like(p)
            true_only[snap.input_label] = p[snap.input_label]
            dpg.set_value("prob_true", [true_only.tolist(), positions])
        for name, shape, picture in snap.activations:
            lo, hi = snap.activation_ranges.get(name, (0.0, 1.0))
            chosen = name == snap.selected
            text = f"{name}  {_shape_text(shape)}   colour: {lo:.3g} (blue) to {hi:.3g} (yellow)"
            dpg.add_selectable(label=text,
                               parent="feature_maps", default_value=chosen, user_data=name,
                               callback=lambda s, a, u: self.select_layer(u))
            with dpg.group(horizontal=True, parent="feature_maps") as group:
                dpg.add_colormap_scale(colormap="colormap_viridis", min_scale=lo, max_scale=hi,
                                       width=SCALE_WIDTH, height=max(40, picture.shown[1]))
                self._image(("activation", name), picture, group)

    def _draw_weights(self, snap):
        x = (snap.batch_steps / max(snap.steps_per_epoch, 1)).tolist()
        for kind, norms in (("weight", snap.weight_norms), ("grad", snap.grad_norms)):
            low, high = math.inf, 0.0
            for layer, values in norms.items():
                tag = f"{kind}_norm_y/{layer}"
                if dpg.does_item_exist(tag):
                    dpg.set_value(tag, [x, values.tolist()])
                positive = values[values > 0]
                if positive.size:
                    low, high = min(low, float(positive.min())), max(high, float(positive.max()))
            if x and high > 0:
                dpg.fit_axis_data(f"{kind}_norm_x")
                low, high = low / 1.25, high * 1.25
                dpg.set_axis_limits(f"{kind}_norm_y", low, high)
                dpg.set_axis_ticks(f"{kind}_norm_y", log_ticks(low, high))
        for kind, hist in (("weight", snap.weight_histogram), ("grad", snap.grad_histogram)):
            if len(hist) and len(hist[0]):
                centres, counts = hist
                width = float(centres[1] - centres[0]) if len(centres) > 1 else 1.0
                dpg.set_value(f"{kind}_hist", [centres.tolist(), counts.tolist()])
                dpg.configure_item(f"{kind}_hist", weight=width)
                dpg.fit_axis_data(f"{kind}_hist_x")
                dpg.fit_axis_data(f"{kind}_hist_y")
            else:
                dpg.set_value(f"{kind}_hist", [[], []])
        title = snap.histogram_layer or "-"
        dpg.set_item_label("weight_hist_plot", f"Weights of {title}")
        dpg.set_item_label("grad_hist_plot", f"Gradients of {title}")

    def _draw_rewind(self, snap):
        n = len(snap.history)
        dpg.configure_item("rewind", max_value=max(0, n - 1))
        if not dpg.is_item_active("rewind"):
            dpg.set_value("rewind", snap.viewing if snap.viewing >= 0 else max(0, n - 1))
        if snap.viewing >= 0:
            dpg.set_value("rewind_label", f"showing {snap.history[snap.viewing]} ({snap.viewing + 1}/{n})")
            dpg.configure_item("rewind_label", color=YELLOW)
            step = snap.history_steps[snap.viewing] / max(snap.steps_per_epoch, 1)
            dpg.set_value("rewind_line", [[step]])
        else:
            dpg.set_value("rewind_label", f"live weights ({n} snapshots kept)")
            dpg.configure_item("rewind_label", color=GREY)
            dpg.set_value("rewind_line", [[]])
        dpg.configure_item("resume", enabled=snap.viewing >= 0)

    def _draw_explain(self, snap):
        for group in ("explain_input", "explain_saliency", "explain_cam", "field_group"):
            dpg.delete_item(group, children_only=True)
        box = self.sizes["explain"][0] if self.sizes else 240
        if snap.input_picture is not None:
            self._image("explain_input", snap.input_picture, "explain_input", box * 2 // 3)
        names = snap.class_names
        if snap.saliency is not None:
            self._image("saliency", snap.saliency, "explain_saliency", box)
            guess = names[snap.explained_class] if 0 <= snap.explained_class < len(names) else "?"
            cam = snap.grad_cam_layer or "the last convolution"
            dpg.set_value("explain_why", f"Why '{guess}'? The saliency map is the gradient of the predicted "
                                         f"class's output with respect to each input pixel (bright: a small "
                                         f"change there changes the prediction most). Grad-CAM weighs the "
                                         f"maps of {cam} by how much the class depends on each, and shows "
                                         f"where they fire. Both follow the training and the Rewind slider.")
        else:
            dpg.set_value("explain_why", "")
        if snap.grad_cam is not None:
            self._image("grad_cam", snap.grad_cam, "explain_cam", box)
            dpg.set_value("explain_cam_title", f"Grad-CAM on {snap.grad_cam_layer}")
        dpg.delete_item("cell_map", children_only=True)
        if snap.cell_map is None:
            self.cell_geometry = None
            dpg.configure_item("cell_scale", show=False)
            dpg.set_value("cell_map_title", "")
            dpg.set_value("explain_text", "" if snap.conv_layers else "This model has no convolution layer.")
            dpg.set_value("field_title", "")
            return
        layer, filt, rows, cols, filters, lo, hi = snap.cell_map_info
        picture = snap.cell_map
        scale = box / max(picture.width, picture.height)
        w, h = int(picture.width * scale), int(picture.height * scale)
        dpg.configure_item("cell_map", width=w, height=h)
        dpg.draw_image(self._texture("cell_map", picture), (0, 0), (w, h), parent="cell_map")
        self.cell_geometry = (layer, filt, rows, cols, (w, h))
        dpg.configure_item("cell_scale", show=True, min_scale=lo, max_scale=hi, height=h)
        if not dpg.is_item_active("explain_filter"):
            dpg.set_value("explain_filter", filt)
        dpg.set_value("cell_map_title", f"{layer}, filter {filt} of {filters}: {rows}x{cols}")
        e = snap.explanation
        if e is None or e["layer"] != layer:
            dpg.set_value("explain_text", "Click a cell of the map.")
            dpg.set_value("field_title", "")
            return
        i, j, _ = e["index"]
        cx, cy = (j + 0.5) * w / cols, (i + 0.5) * h / rows
        dpg.draw_rectangle((j * w / cols, i * h / rows), ((j + 1) * w / cols, (i + 1) * h / rows),
                           color=(60, 230, 90, 255), thickness=2, parent="cell_map")
        dpg.draw_circle((cx, cy), 2, color=(60, 230, 90, 255), parent="cell_map")
        if snap.field_picture is not None:
            f = snap.field_picture
            scale = box / max(f.width, f.height)
            fw, fh = int(f.width * scale), int(f.height * scale)
            dpg.configure_item("field_group", width=fw, height=fh)
            dpg.draw_image(self._texture("field", f), (0, 0), (fw, fh), parent="field_group")
            in_h, in_w = e["input_shape"][:2]
            rows = [r for r in e["rows"] if r >= 0]
            cols = [c for c in e["cols"] if c >= 0]
            if rows and cols:
                ys, xs = fh / in_h, fw / in_w
                corner = ((max(cols) + 1) * xs, (max(rows) + 1) * ys)
                dpg.draw_rectangle((min(cols) * xs, min(rows) * ys), corner, color=(255, 60, 60, 255),
                                   thickness=2, parent="field_group")
        where = e["input_name"]
        shown = f", channel {e['shown_channel']} shown" if "shown_channel" in e else ""
        dpg.set_value("field_title", f"its receptive field in {where} (red){shown}")
        dpg.set_value("explain_text", explanation_text(e))


def explanation_text(e):
    """The explained convolution output as lines of text: where it reads, the kernel slice times the
    patch, the sum, the bias, the activation, and the layer's own value beside it."""
    i, j, f = e["index"]
    kh, kw, c = e["kernel"].shape
    rows = [r for r in e["rows"] if r >= 0]
    cols = [v for v in e["cols"] if v >= 0]
    lines = [f"{e['layer']}[{i}, {j}, filter {f}] reads rows {min(rows)}-{max(rows)}, cols {min(cols)}-"
             f"{max(cols)} of {e['input_name']} ({'x'.join(map(str, e['input_shape']))}); stride "
             f"{e['strides'][0]}x{e['strides'][1]}, padding {e['padding']}"
             + (" (cells outside are 0)" if len(rows) < kh or len(cols) < kw else ""),
             f"output = {e['activation']}(sum over {kh}x{kw}x{c} of input x kernel + bias)", ""]
    sums = e["products"].sum(axis=(0, 1))
    order = np.argsort(-np.abs(sums))
    shown = order[:2] if c > 2 else range(c)
    for ch in shown:
        lines.append(f"channel {ch}: input x weight = product" + ("" if c <= 2 else
                                                                   f"  (sum {sums[ch]:+.4f})"))
        for a in range(kh):
            lines.append("  " + "   ".join(f"{e['patch'][a, b, ch]:6.3f}x{e['kernel'][a, b, ch]:+.3f}"
                                           f"={e['products'][a, b, ch]:+.4f}" for b in range(kw)))
    if c > 2:
        rest = ", ".join(f"{ch}: {sums[ch]:+.4f}" for ch in order[2:8])
        lines.append(f"other channels' sums: {rest}{', ...' if c > 8 else ''}")
    lines += ["",
              f"sum of the {kh * kw * c} products = {e['sum']:+.6f}",
              f"+ bias {e['bias']:+.6f} = {e['pre_activation']:+.6f}",
              f"{e['activation']}({e['pre_activation']:+.6f}) = {e['output']:+.6f}",
              f"the layer's feature map holds {e['value']:+.6f} "
              f"(difference {abs(e['output'] - e['value']):.1e}, float32 rounding)"]
    return "\n".join(lines)
