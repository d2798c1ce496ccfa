"""Plotting helpers shared by the chapters: activation curves, decision boundaries, training curves, image grids.

Matplotlib only: this module never imports TensorFlow or Keras. Importing it sets the course's colour-blind-safe
colour cycle. Every function gives each of its axes a title and labelled axes (image thumbnails get a title and
no axes), and returns the matplotlib Figure (or the Axes when given `ax=`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

# The course's colour-blind-safe colour cycle: matplotlib's "petroff10" (matplotlib >= 3.10; the same ten
# colours are spelled out for older versions). Importing this module makes it matplotlib's default cycle,
# so "C0", "C1", ... and every plt.plot in a notebook use it; class colours come from it too.
PETROFF10 = ("#3f90da", "#ffa90e", "#bd1f01", "#94a4a2", "#832db6", "#a96b59", "#e76300", "#b9ac70", "#717581",
             "#92dadd")
COLOUR_CYCLE = tuple(matplotlib.style.library["petroff10"]["axes.prop_cycle"].by_key()["color"]
                     if "petroff10" in matplotlib.style.library else PETROFF10)
CLASS_COLOURS = COLOUR_CYCLE
PALETTE_RED = COLOUR_CYCLE[2]  # the cycle's red ("#bd1f01" in petroff10): wrong predictions, minima
CLASS_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def use_course_colours() -> None:
    """Make the course's colour-blind-safe cycle matplotlib's default colour cycle."""
    matplotlib.rcParams["axes.prop_cycle"] = cycler(color=COLOUR_CYCLE)


use_course_colours()


MINIMUM_ALT_TEXT_WORDS = 6  # "Loss curve." says nothing; alt text says what is drawn and what it shows
ALT_TEXT_ATTRIBUTE = "_dlcourse_alt_text"


def clean_alt_text(alt_text: str) -> str:
    """The alt text on one line; ValueError if it is not a sentence that can say what a figure shows."""
    if not isinstance(alt_text, str) or len(alt_text.split()) < MINIMUM_ALT_TEXT_WORDS:
        raise ValueError(f"alt_text must say in a sentence what the figure shows and its point "
                         f"(at least {MINIMUM_ALT_TEXT_WORDS} words), got {alt_text!r}")
    return " ".join(alt_text.split())


def describe_figure(alt_text: str, figure: Figure | None = None) -> None:
    """Give the figure (default: the current one) alt text that says what it shows and its point.

    Then show it as usual with plt.show(): in a notebook its output carries the alt text (in the PNG's metadata,
    and as the output's text form), where screen readers and the course's web book read it. (It returns None, so
    that a cell ending with it doesn't show the figure a second time.)
    """
    figure = figure if figure is not None else plt.gcf()
    setattr(figure, ALT_TEXT_ATTRIBUTE, clean_alt_text(alt_text))
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        install_alt_text_formatters(shell)


def alt_text_of(figure: Figure) -> str | None:
    """The alt text given to the figure by describe_figure, or None."""
    return getattr(figure, ALT_TEXT_ATTRIBUTE, None)


def install_alt_text_formatters(shell: Any) -> None:
    """Make the IPython shell's PNG output of a described figure carry its alt text (metadata and text form).

    The inline backend registers its own PNG formatter for figures when it starts; this wraps whatever is
    registered, so it is called again by each describe_figure (wrapping only once).
    """
    formatters = shell.display_formatter.formatters
    png_formatter, text_formatter = formatters["image/png"], formatters["text/plain"]
    try:
        draw_png = png_formatter.lookup_by_type(Figure)
    except KeyError:
        return  # no inline PNG figures in this shell (another backend): nothing to add the alt text to
    if getattr(draw_png, "adds_alt_text", False):
        return

    def png_with_alt_text(figure: Figure):
        png = draw_png(figure)
        alt_text = alt_text_of(figure)
        return png if png is None or alt_text is None else (png, {"alt": alt_text})

    png_with_alt_text.adds_alt_text = True
    png_formatter.for_type(Figure, png_with_alt_text)
    try:
        plain_text = text_formatter.lookup_by_type(Figure)
    except KeyError:
        plain_text = None

    def text_with_alt_text(figure: Figure, printer, cycle) -> None:
        alt_text = alt_text_of(figure)
        if alt_text is not None:
            printer.text(alt_text)
        elif plain_text is not None:
            plain_text(figure, printer, cycle)
        else:
            printer.text(repr(figure))

    text_formatter.for_type(Figure, text_with_alt_text)


def _class_colour(index: int) -> str:
    """The colour used for class number `index`."""
    return CLASS_COLOURS[index % len(CLASS_COLOURS)]


def _class_marker(index: int) -> str:
    """The marker used for class number `index`."""
    return CLASS_MARKERS[index % len(CLASS_MARKERS)]


def _axis_names(feature_names: Sequence[str] | None) -> tuple[str, str]:
    """The x and y axis labels for a 2-D feature plot."""
    if feature_names is None:
        return "feature 1", "feature 2"
    if len(feature_names) != 2:
        raise ValueError(f"feature_names must name exactly 2 features, got {len(feature_names)}")
    return str(feature_names[0]), str(feature_names[1])


def _class_name(label: int, class_names: Sequence[str] | None) -> str:
    """The legend text for class `label`."""
    if class_names is not None and 0 <= label < len(class_names):
        return str(class_names[label])
    return f"class {label}"


def plot_activation_functions(
    functions: Mapping[str, Callable[[np.ndarray], Any]],
    x_min: float = -5.0,
    x_max: float = 5.0,
    num_points: int = 401,
    title: str = "Activation functions",
) -> Figure:
    """Plot each activation (left) and its numerical derivative from np.gradient (right), side by side."""
    if not functions:
        raise ValueError("functions must contain at least one activation")
    x = np.linspace(x_min, x_max, num_points)
    figure, (curve_axes, derivative_axes) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, function in functions.items():
        y = np.asarray(function(x), dtype=np.float64).reshape(x.shape)
        derivative = np.gradient(y, x)
        curve_axes.plot(x, y, label=name, linewidth=2)
        derivative_axes.plot(x, derivative, label=name, linewidth=2)
    curve_axes.set_title("Activation f(x)")
    curve_axes.set_xlabel("input x (pre-activation)")
    curve_axes.set_ylabel("output f(x)")
    derivative_axes.set_title("Derivative f'(x) (numerical)")
    derivative_axes.set_xlabel("input x (pre-activation)")
    derivative_axes.set_ylabel("slope f'(x)")
    for axes in (curve_axes, derivative_axes):
        axes.axhline(0.0, color="grey", linewidth=0.6)
        axes.axvline(0.0, color="grey", linewidth=0.6)
        axes.grid(True, alpha=0.3)
        axes.legend(loc="best", fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_scatter_2d(
    features: np.ndarray,
    labels: np.ndarray,
    title: str,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    ax: Axes | None = None,
) -> Figure | Axes:
    """Scatter 2-D points coloured by class label; returns the Figure, or `ax` when one is given."""
    features = np.asarray(features)
    labels = np.asarray(labels).reshape(-1)
    if features.ndim != 2 or features.shape[1] != 2:
        raise ValueError(f"features must have shape (n, 2), got {features.shape}")
    if len(features) != len(labels):
        raise ValueError(f"features and labels differ in length: {len(features)} vs {len(labels)}")
    axes = ax
    if axes is None:
        figure, axes = plt.subplots(figsize=(5.5, 4.5))
    for label in np.unique(labels):
        chosen = labels == label
        axes.scatter(
            features[chosen, 0],
            features[chosen, 1],
            s=18,
            color=_class_colour(int(label)),
            marker=_class_marker(int(label)),
            edgecolors="white",
            linewidths=0.4,
            label=_class_name(int(label), class_names),
        )
    x_label, y_label = _axis_names(feature_names)
    axes.set_title(title)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.legend(loc="best", fontsize="small")
    if ax is not None:
        return ax
    axes.figure.tight_layout()
    return axes.figure


def plot_decision_boundary(
    predict_probability: Callable[[np.ndarray], Any],
    features: np.ndarray,
    labels: np.ndarray,
    title: str,
    ax: Axes | None = None,
    resolution: int = 200,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    margin: float = 0.5,
) -> Figure | Axes:
    """Shade where a binary classifier predicts class 1, draw its 0.5 contour and scatter the points."""
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[1] != 2:
        raise ValueError(f"features must have shape (n, 2), got {features.shape}")
    axes = ax
    if axes is None:
        figure, axes = plt.subplots(figsize=(5.5, 4.5))
    x_low, y_low = features.min(axis=0) - margin
    x_high, y_high = features.max(axis=0) + margin
    grid_x, grid_y = np.meshgrid(np.linspace(x_low, x_high, resolution), np.linspace(y_low, y_high, resolution))
    grid = np.column_stack([grid_x.ravel(), grid_y.ravel()]).astype(np.float32)
    probability = np.asarray(predict_probability(grid), dtype=np.float64)
    if probability.size != grid.shape[0]:
        raise ValueError(
            f"predict_probability must return one probability per grid point (shape (n,) or (n, 1)), "
            f"got shape {probability.shape} for {grid.shape[0]} points"
        )
    probability = probability.reshape(grid_x.shape)
    background = ListedColormap([_class_colour(0), _class_colour(1)])
    axes.contourf(grid_x, grid_y, probability, levels=[-0.01, 0.5, 1.01], cmap=background, alpha=0.18)
    if probability.min() < 0.5 < probability.max():
        axes.contour(grid_x, grid_y, probability, levels=[0.5], colors="black", linewidths=1.5)
    plot_scatter_2d(features, labels, title, feature_names=feature_names, class_names=class_names, ax=axes)
    axes.set_xlim(x_low, x_high)
    axes.set_ylim(y_low, y_high)
    if ax is not None:
        return ax
    axes.figure.tight_layout()
    return axes.figure


def plot_training_history(history: Any, title: str = "Training history") -> Figure:
    """Plot loss (and accuracy, when recorded) per epoch for training and validation data."""
    values = getattr(history, "history", history)
    if not isinstance(values, Mapping) or "loss" not in values:
        raise ValueError("history must be a keras History or its .history dict containing 'loss'")
    metric_names = ["loss"]
    for candidate in ("accuracy", "acc", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy"):
        if candidate in values:
            metric_names.append(candidate)
            break
    figure, axes_list = plt.subplots(1, len(metric_names), figsize=(5.5 * len(metric_names), 4), squeeze=False)
    for axes, metric in zip(axes_list[0], metric_names):
        train_values = np.asarray(values[metric], dtype=np.float64)
        epochs = np.arange(1, len(train_values) + 1)
        axes.plot(epochs, train_values, marker="o", markersize=3, label="training")
        if f"val_{metric}" in values:
            validation_values = np.asarray(values[f"val_{metric}"], dtype=np.float64)
            axes.plot(np.arange(1, len(validation_values) + 1), validation_values, marker="o", markersize=3,
                      label="validation")
        pretty = "accuracy" if metric != "loss" else "loss"
        axes.set_title(f"{pretty.capitalize()} per epoch")
        axes.set_xlabel("epoch")
        axes.set_ylabel(pretty)
        axes.grid(True, alpha=0.3)
        axes.legend(loc="best", fontsize="small")
        if len(epochs) <= 20:
            axes.set_xticks(epochs)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_image_grid(
    images: np.ndarray,
    true_labels: Sequence[Any] | np.ndarray,
    predicted_labels: Sequence[Any] | np.ndarray | None = None,
    num_columns: int = 8,
    title: str = "Images",
    class_names: Sequence[str] | None = None,
) -> Figure:
    """Show images in a grid, each titled with its true label (and predicted label, red and bold when wrong)."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim == 2:
        side = int(round(np.sqrt(images.shape[1])))
        if side * side != images.shape[1]:
            raise ValueError(f"flat images must be square, got {images.shape[1]} pixels")
        images = images.reshape(len(images), side, side)
    if images.ndim not in (3, 4):
        raise ValueError(f"images must have shape (n, h, w), (n, h, w, channels) or (n, h*w), got {images.shape}")
    count = len(images)
    if count == 0:
        raise ValueError("images is empty")
    true_labels = list(np.asarray(true_labels).reshape(-1))
    if len(true_labels) != count:
        raise ValueError(f"got {count} images but {len(true_labels)} true labels")
    if predicted_labels is not None:
        predicted_labels = list(np.asarray(predicted_labels).reshape(-1))
        if len(predicted_labels) != count:
            raise ValueError(f"got {count} images but {len(predicted_labels)} predicted labels")

    def name(label: Any) -> str:
        if class_names is not None and isinstance(label, (int, np.integer)) and 0 <= int(label) < len(class_names):
            return str(class_names[int(label)])
        return str(label)

    num_columns = max(1, min(num_columns, count))
    num_rows = int(np.ceil(count / num_columns))
    figure, axes_grid = plt.subplots(num_rows, num_columns, figsize=(1.5 * num_columns, 1.75 * num_rows + 0.6),
                                     squeeze=False)
    for index, axes in enumerate(axes_grid.ravel()):
        if index >= count:
            axes.remove()
            continue
        image = images[index]
        axes.imshow(image, cmap="gray_r" if image.ndim == 2 else None)
        axes.set_axis_off()
        if predicted_labels is None:
            axes.set_title(f"true {name(true_labels[index])}", fontsize=9)
        else:
            correct = true_labels[index] == predicted_labels[index]
            # wrong: the palette's red and bold, so the mark doesn't rest on colour alone
            axes.set_title(f"true {name(true_labels[index])}\npred {name(predicted_labels[index])}", fontsize=9,
                           color="black" if correct else PALETTE_RED, fontweight="normal" if correct else "bold")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


GRADIENT_COLOUR = "#bd1f01"  # the red of the course's petroff10 cycle: backward-pass gradients


def _box_edge_point(centre, half_size, towards):
    """Where the segment from a box's centre towards a point leaves the box (all in data coordinates)."""
    (x, y), (half_width, half_height) = centre, half_size
    dx, dy = towards[0] - x, towards[1] - y
    scales = [half_width / abs(dx) if dx else np.inf, half_height / abs(dy) if dy else np.inf]
    scale = min(min(scales), 1.0)
    return x + scale * dx, y + scale * dy


def plot_computational_graph(
    nodes: Mapping[str, tuple[float, float, str]],
    edges: Sequence[tuple[str, str]],
    values: Mapping[str, str] | None = None,
    gradients: Mapping[str, str] | None = None,
    title: str = "Computational graph",
    ax: Axes | None = None,
) -> Figure | Axes:
    """Draw a computational graph: boxes at (x, y) with a label, and arrows for the edges (forward direction).

    `nodes` maps a name to (x, y, label); `edges` lists (from, to) names. Optional `values` (forward pass,
    printed in black) and `gradients` (backward pass, printed in red) map node names to text. Arrows run from
    box edge to box edge; a node's texts go below its box, or above it when the node's arrows point down.
    """
    if not nodes:
        raise ValueError("nodes must contain at least one node")
    for start, end in edges:
        for name in (start, end):
            if name not in nodes:
                raise ValueError(f"edge ({start!r}, {end!r}) names an unknown node {name!r}")
    values, gradients = dict(values or {}), dict(gradients or {})
    axes = ax
    if axes is None:
        figure, axes = plt.subplots(figsize=(12, 4.5))
    xs = [x for x, _, _ in nodes.values()]
    ys = [y for _, y, _ in nodes.values()]
    axes.set_xlim(min(xs) - 0.8, max(xs) + 0.8)
    axes.set_ylim(min(ys) - 1.0, max(ys) + 0.8)
    box_style = {"boxstyle": "round,pad=0.35", "facecolor": "#EAF2FB", "edgecolor": _class_colour(0)}
    boxes = {name: axes.text(x, y, label, ha="center", va="center", fontsize=10, bbox=box_style, zorder=3)
             for name, (x, y, label) in nodes.items()}
    points_down = {start for start, end in edges if nodes[end][1] < nodes[start][1]}
    for name, (x, y, _) in nodes.items():
        below = []
        if name in values:
            below.append((values[name], "black"))
        if name in gradients:
            below.append((gradients[name], GRADIENT_COLOUR))
        above = name in points_down
        for offset, (text, colour) in enumerate(below):
            shift = 0.32 + 0.22 * (len(below) - 1 - offset if above else offset)
            axes.text(x, y + shift if above else y - shift, text, ha="center", va="bottom" if above else "top",
                      fontsize=8.5, color=colour, zorder=3)
    axes.set_xticks([])
    axes.set_yticks([])
    for spine in axes.spines.values():
        spine.set_visible(False)
    axes.set_title(title)
    axes.set_xlabel("forward pass: left to right along the arrows (values in black); "
                    "backward pass: right to left (gradients ∂L/∂· in red)")
    if ax is None:
        axes.figure.tight_layout()  # before measuring the boxes: the layout fixes the data-to-screen scale
    renderer = axes.figure.canvas.get_renderer()
    to_data = axes.transData.inverted()
    half_sizes = {}
    for name, box in boxes.items():
        box.update_bbox_position_size(renderer)
        (left, bottom), (right, top) = to_data.transform(box.get_bbox_patch().get_window_extent(renderer).get_points())
        half_sizes[name] = ((right - left) / 2.0, (top - bottom) / 2.0)
    for start, end in edges:
        (x0, y0, _), (x1, y1, _) = nodes[start], nodes[end]
        tail = _box_edge_point((x0, y0), half_sizes[start], (x1, y1))
        head = _box_edge_point((x1, y1), half_sizes[end], (x0, y0))
        axes.annotate("", xy=head, xytext=tail, zorder=2,
                      arrowprops={"arrowstyle": "-|>", "color": "dimgrey", "shrinkA": 1, "shrinkB": 1,
                                  "linewidth": 1.3})
    return ax if ax is not None else axes.figure


def plot_gradient_norms(
    norms_by_network: Mapping[str, Sequence[float]],
    title: str = "Gradient norm per layer",
    ax: Axes | None = None,
) -> Figure | Axes:
    """Plot each network's per-layer gradient norms (layer 1 = closest to the input) on a log scale."""
    if not norms_by_network:
        raise ValueError("norms_by_network must contain at least one network")
    axes = ax
    if axes is None:
        figure, axes = plt.subplots(figsize=(7, 4.2))
    for index, (name, norms) in enumerate(norms_by_network.items()):
        norms = np.asarray(norms, dtype=np.float64).reshape(-1)
        if norms.size == 0 or np.any(norms <= 0) or not np.all(np.isfinite(norms)):
            raise ValueError(f"gradient norms of {name!r} must be positive finite numbers")
        layers = np.arange(1, norms.size + 1)
        axes.plot(layers, norms, marker=_class_marker(index), color=_class_colour(index), linewidth=2, label=name)
        axes.set_xticks(layers)
    axes.set_yscale("log")
    axes.set_title(title)
    axes.set_xlabel("layer (1 = next to the input)")
    axes.set_ylabel("gradient norm of the layer's kernel (log scale)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    if ax is not None:
        return ax
    axes.figure.tight_layout()
    return axes.figure


def plot_optimization_paths(
    loss_function: Callable[[np.ndarray, np.ndarray], np.ndarray],
    paths: Mapping[str, Sequence[Sequence[float]] | np.ndarray],
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    title: str = "Paths on the loss surface",
    axis_names: Sequence[str] = ("weight 1", "weight 2"),
    minimum: Sequence[float] | None = None,
    ax: Axes | None = None,
    resolution: int = 120,
) -> Figure | Axes:
    """Contours of a 2-D loss surface with the path (one (steps, 2) array of points) of each optimizer on top.

    `loss_function(x_grid, y_grid)` is called once on two meshgrid arrays and must return the loss grid.
    """
    if not paths:
        raise ValueError("paths must contain at least one path")
    axes = ax
    if axes is None:
        figure, axes = plt.subplots(figsize=(6.5, 5))
    xs = np.linspace(x_range[0], x_range[1], resolution)
    ys = np.linspace(y_range[0], y_range[1], resolution)
    x_grid, y_grid = np.meshgrid(xs, ys)
    losses = np.asarray(loss_function(x_grid, y_grid), dtype=np.float64)
    if losses.shape != x_grid.shape:
        raise ValueError(f"loss_function returned shape {losses.shape}, expected {x_grid.shape}")
    finite = losses[np.isfinite(losses)]
    low, high = float(finite.min()), float(finite.max())
    levels = low + (high - low) * np.linspace(0.0, 1.0, 25) ** 2 + 1e-12 * np.arange(25)
    axes.contour(x_grid, y_grid, losses, levels=levels, cmap="Greys", linewidths=0.7)
    for index, (name, path) in enumerate(paths.items()):
        points = np.asarray(path, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"path {name!r} must have shape (steps, 2), got {points.shape}")
        colour = _class_colour(index)
        axes.plot(points[:, 0], points[:, 1], color=colour, linewidth=1.5, marker=_class_marker(index),
                  markersize=3, label=name, alpha=0.9)
    start = np.asarray(next(iter(paths.values())), dtype=np.float64)[0]
    axes.plot(*start, marker="o", color="black", markersize=7, linestyle="none", label="start")
    if minimum is not None:
        axes.plot(*minimum, marker="*", color=PALETTE_RED, markersize=14, linestyle="none", label="minimum")
    axes.set_xlim(*x_range)
    axes.set_ylim(*y_range)
    axes.set_title(title)
    axes.set_xlabel(axis_names[0])
    axes.set_ylabel(axis_names[1])
    axes.legend(loc="best", fontsize="small")
    if ax is not None:
        return ax
    axes.figure.tight_layout()
    return axes.figure


def show_tiled_images(axes: Axes, images: np.ndarray, num_columns: int, title: str = "") -> Axes:
    """Draw images (N, H, W[, 1]) with pixels in [-1, 1] as one picture of num_columns per row, without axes."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"images must have shape (n, h, w) or (n, h, w, 1), got {images.shape}")
    num_rows = int(np.ceil(len(images) / num_columns))
    height, width = images.shape[1:]
    gap = 2  # pixels of background between tiles
    picture = np.full((num_rows * (height + gap) - gap, num_columns * (width + gap) - gap), -1.0)
    for index, image in enumerate(images):
        top, left = (index // num_columns) * (height + gap), (index % num_columns) * (width + gap)
        picture[top:top + height, left:left + width] = image
    axes.imshow((picture + 1.0) / 2.0, cmap="gray_r", vmin=0.0, vmax=1.0)
    axes.set_axis_off()
    if title:
        axes.set_title(title)
    return axes
