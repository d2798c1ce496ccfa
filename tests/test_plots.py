"""Fast tests of dlcourse.plots with the non-interactive Agg backend."""

import types
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from dlcourse import plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    """Close every figure a test opened."""
    yield
    plt.close("all")


def assert_fully_labelled(figure):
    """Every axes of the figure has a non-empty title, x label and y label."""
    assert isinstance(figure, Figure)
    assert figure.axes, "figure has no axes"
    for axes in figure.axes:
        assert axes.get_title().strip(), "axes without a title"
        assert axes.get_xlabel().strip(), f"axes {axes.get_title()!r} without an x label"
        assert axes.get_ylabel().strip(), f"axes {axes.get_title()!r} without a y label"


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def two_blobs(num_points=60, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(num_points) % 2
    features = rng.normal(size=(num_points, 2)).astype(np.float32) + 2.0 * labels[:, None]
    return features, labels.astype(np.int64)


def test_activation_functions_two_labelled_panels():
    figure = plots.plot_activation_functions({"sigmoid": sigmoid, "relu": lambda x: np.maximum(x, 0), "tanh": np.tanh})
    assert_fully_labelled(figure)
    assert len(figure.axes) == 2
    assert all(len(axes.get_lines()) >= 3 for axes in figure.axes)


def test_sigmoid_derivative_peaks_at_a_quarter_near_zero():
    figure = plots.plot_activation_functions({"sigmoid": sigmoid}, x_min=-5, x_max=5, num_points=401)
    curve_axes, derivative_axes = figure.axes
    curve = next(line for line in curve_axes.get_lines() if line.get_label() == "sigmoid")
    derivative = next(line for line in derivative_axes.get_lines() if line.get_label() == "sigmoid")
    x, y = curve.get_data()
    assert y[np.argmin(np.abs(x))] == pytest.approx(0.5, abs=1e-6)
    x, slope = derivative.get_data()
    assert slope.max() == pytest.approx(0.25, abs=1e-3)
    assert abs(x[np.argmax(slope)]) < 0.05


def test_relu_derivative_is_zero_then_one():
    figure = plots.plot_activation_functions({"relu": lambda x: np.maximum(x, 0)})
    x, slope = next(line for line in figure.axes[1].get_lines() if line.get_label() == "relu").get_data()
    assert np.allclose(slope[x < -0.1], 0.0)
    assert np.allclose(slope[x > 0.1], 1.0)


def test_activation_functions_rejects_empty_dict():
    with pytest.raises(ValueError):
        plots.plot_activation_functions({})


@pytest.mark.parametrize("output_shape", ["flat", "column"])
def test_decision_boundary_accepts_flat_and_column_probabilities(output_shape):
    features, labels = two_blobs()

    def predict_probability(points):
        assert points.dtype == np.float32 and points.shape[1] == 2
        probability = sigmoid(points[:, 0] + points[:, 1] - 2.0)
        return probability if output_shape == "flat" else probability[:, None]

    figure = plots.plot_decision_boundary(predict_probability, features, labels, "Linear boundary", resolution=50)
    assert_fully_labelled(figure)
    axes = figure.axes[0]
    assert axes.get_title() == "Linear boundary"
    assert axes.get_xlabel() == "feature 1" and axes.get_ylabel() == "feature 2"


def test_decision_boundary_on_given_axes_with_feature_names():
    features, labels = two_blobs()
    figure, axes_pair = plt.subplots(1, 2)
    returned = plots.plot_decision_boundary(lambda p: np.full(len(p), 0.3), features, labels, "Constant model",
                                            ax=axes_pair[1], resolution=20,
                                            feature_names=["petal length (cm)", "petal width (cm)"],
                                            class_names=["versicolor", "virginica"])
    assert returned is axes_pair[1]
    assert isinstance(returned, Axes)
    assert returned.get_xlabel() == "petal length (cm)"
    legend_texts = [text.get_text() for text in returned.get_legend().get_texts()]
    assert legend_texts == ["versicolor", "virginica"]


def test_decision_boundary_rejects_wrong_number_of_probabilities():
    features, labels = two_blobs()
    with pytest.raises(ValueError):
        plots.plot_decision_boundary(lambda p: np.zeros(3), features, labels, "Broken", resolution=10)


def test_scatter_2d_labelled_and_one_collection_per_class():
    features, labels = two_blobs()
    figure = plots.plot_scatter_2d(features, labels, "Two blobs", class_names=["left", "right"])
    assert_fully_labelled(figure)
    assert len(figure.axes[0].collections) == 2


def test_scatter_2d_rejects_non_2d_features():
    with pytest.raises(ValueError):
        plots.plot_scatter_2d(np.zeros((5, 3)), np.zeros(5), "Bad")


def test_training_history_from_dict_with_validation():
    history = {"loss": [1.0, 0.6, 0.4], "accuracy": [0.5, 0.7, 0.8], "val_loss": [1.1, 0.7, 0.5],
               "val_accuracy": [0.45, 0.65, 0.75]}
    figure = plots.plot_training_history(history, title="MNIST")
    assert_fully_labelled(figure)
    assert len(figure.axes) == 2
    loss_axes, accuracy_axes = figure.axes
    assert loss_axes.get_xlabel() == "epoch" and accuracy_axes.get_xlabel() == "epoch"
    assert [line.get_label() for line in loss_axes.get_lines()] == ["training", "validation"]
    x, y = accuracy_axes.get_lines()[1].get_data()
    assert list(x) == [1, 2, 3] and list(y) == [0.45, 0.65, 0.75]


def test_training_history_accepts_history_object_with_loss_only():
    class FakeHistory:
        history = {"loss": [0.9, 0.5]}

    figure = plots.plot_training_history(FakeHistory())
    assert_fully_labelled(figure)
    assert len(figure.axes) == 1


def test_training_history_rejects_missing_loss():
    with pytest.raises(ValueError):
        plots.plot_training_history({"accuracy": [0.5]})


def assert_titled_thumbnails(figure):
    """Every axes of an image grid has a title and no axes drawn (no ticks, labels or frame)."""
    assert isinstance(figure, Figure)
    assert figure.axes, "figure has no axes"
    for axes in figure.axes:
        assert axes.get_title().strip(), "thumbnail without a title"
        assert not axes.axison, f"thumbnail {axes.get_title()!r} draws its axes"
        assert not axes.get_xlabel() and not axes.get_ylabel()


def test_image_grid_marks_wrong_predictions_in_red():
    images = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    figure = plots.plot_image_grid(images, [1, 2, 3, 4, 5], [1, 2, 0, 4, 5], num_columns=3, title="Digits")
    assert_titled_thumbnails(figure)
    assert len(figure.axes) == 5
    assert figure.axes[2].title.get_color() == plots.PALETTE_RED == "#bd1f01"
    assert figure.axes[2].title.get_fontweight() == "bold"
    assert figure.axes[0].title.get_color() == "black" and figure.axes[0].title.get_fontweight() == "normal"
    assert "pred 0" in figure.axes[2].get_title()


def test_image_grid_accepts_flat_images_without_predictions():
    images = np.zeros((4, 784), dtype=np.float32)
    figure = plots.plot_image_grid(images, np.array([7, 2, 1, 0]))
    assert_titled_thumbnails(figure)
    assert figure.axes[0].get_images()[0].get_array().shape == (28, 28)


def test_colour_cycle_is_petroff10_and_the_default():
    assert plots.COLOUR_CYCLE == plots.PETROFF10
    assert plots.CLASS_COLOURS[:2] == plots.COLOUR_CYCLE[:2]
    assert tuple(matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]) == plots.COLOUR_CYCLE
    if "petroff10" in matplotlib.style.library:
        assert list(plots.COLOUR_CYCLE) == matplotlib.style.library["petroff10"]["axes.prop_cycle"].by_key()["color"]
    line, = plt.subplots()[1].plot([0, 1], [0, 1])
    assert line.get_color() == plots.COLOUR_CYCLE[0]


def test_computational_graph_draws_boxes_values_and_gradients():
    nodes = {"x": (0, 1, "x"), "w": (0, 0, "w"), "z": (1.5, 0.5, "z = w x"), "loss": (3, 0.5, "L = z²")}
    edges = [("x", "z"), ("w", "z"), ("z", "loss")]
    figure = plots.plot_computational_graph(nodes, edges, values={"z": "z = 2.0"}, gradients={"z": "dL/dz = 4.0"},
                                            title="A tiny graph")
    axes = figure.axes[0]  # a diagram: a title and a caption (the x label), no y axis to label
    assert axes.get_title() == "A tiny graph" and "backward pass" in axes.get_xlabel() and axes.get_ylabel() == ""
    texts = [text.get_text() for text in figure.axes[0].texts]
    assert "z = w x" in texts and "z = 2.0" in texts and "dL/dz = 4.0" in texts


def test_computational_graph_rejects_an_unknown_node():
    with pytest.raises(ValueError, match="unknown node"):
        plots.plot_computational_graph({"a": (0, 0, "a")}, [("a", "b")])


def test_gradient_norms_on_a_log_scale():
    figure = plots.plot_gradient_norms({"sigmoid": [1e-5, 1e-3, 1e-1], "relu": [0.5, 0.6, 0.4]}, title="Norms")
    assert_fully_labelled(figure)
    axes = figure.axes[0]
    assert axes.get_yscale() == "log"
    assert len(axes.get_lines()) == 2


def test_gradient_norms_rejects_zero():
    with pytest.raises(ValueError, match="positive"):
        plots.plot_gradient_norms({"dead": [0.0, 1.0]})


def test_optimization_paths_draws_each_path_start_and_minimum():
    paths = {"gradient descent": [[2.0, 1.0], [1.0, 0.5], [0.0, 0.0]], "momentum": np.array([[2.0, 1.0], [0.5, -0.2]])}
    figure = plots.plot_optimization_paths(lambda x, y: x ** 2 + 10 * y ** 2, paths, (-3, 3), (-2, 2),
                                           title="Two paths", minimum=(0.0, 0.0))
    assert_fully_labelled(figure)
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert labels == ["gradient descent", "momentum", "start", "minimum"]


def test_optimization_paths_on_given_axes_rejects_a_bad_path():
    figure, axes = plt.subplots()
    assert plots.plot_optimization_paths(lambda x, y: x ** 2 + y ** 2, {"a": [[1, 1], [0, 0]]}, (-1, 1), (-1, 1),
                                         ax=axes) is axes
    with pytest.raises(ValueError, match="shape"):
        plots.plot_optimization_paths(lambda x, y: x ** 2 + y ** 2, {"a": [1, 2, 3]}, (-1, 1), (-1, 1))
    with pytest.raises(ValueError, match="at least one"):
        plots.plot_optimization_paths(lambda x, y: x ** 2 + y ** 2, {}, (-1, 1), (-1, 1))


def inline_shell():
    """An IPython display formatter with a PNG formatter for figures, as the inline backend registers one."""
    from IPython.core.formatters import DisplayFormatter

    formatter = DisplayFormatter()
    formatter.formatters["image/png"].for_type(Figure, lambda figure: "UE5H")  # stands in for the base64 PNG
    return types.SimpleNamespace(display_formatter=formatter)


def test_a_described_figure_goes_out_with_its_alt_text_as_metadata_and_as_text():
    shell = inline_shell()
    figure, axes = plt.subplots()
    axes.plot([0, 1], [1, 0])
    plots.describe_figure("A line falling from 1 to 0:   the loss shrinks as training goes on.", figure)
    plots.install_alt_text_formatters(shell)
    plots.install_alt_text_formatters(shell)  # each describe_figure calls it again: it wraps only once
    data, metadata = shell.display_formatter.format(figure)
    alt_text = "A line falling from 1 to 0: the loss shrinks as training goes on."
    assert data["image/png"] == "UE5H" and data["text/plain"] == alt_text
    assert metadata == {"image/png": {"alt": alt_text}}
    plt.close(figure)


def test_a_figure_without_alt_text_goes_out_as_before():
    shell = inline_shell()
    plots.install_alt_text_formatters(shell)
    figure = plt.figure()
    data, metadata = shell.display_formatter.format(figure)
    assert data["image/png"] == "UE5H" and data["text/plain"].startswith("<Figure size")
    assert metadata == {}
    plt.close(figure)


def test_describe_figure_outside_a_notebook_only_stores_the_text_on_the_current_figure():
    figure = plt.figure()
    assert plots.describe_figure("An empty figure, described here to test the plain Python path.") is None
    assert plots.alt_text_of(figure) == "An empty figure, described here to test the plain Python path."
    plt.close(figure)


def test_a_shell_without_inline_png_figures_is_left_alone():
    from IPython.core.formatters import DisplayFormatter

    shell = types.SimpleNamespace(display_formatter=DisplayFormatter())
    plots.install_alt_text_formatters(shell)
    with pytest.raises(KeyError):
        shell.display_formatter.formatters["image/png"].lookup_by_type(Figure)


@pytest.mark.parametrize("alt_text", ["", "Loss curve.", None, "   "])
def test_alt_text_that_says_nothing_is_refused(alt_text):
    figure = plt.figure()
    with pytest.raises(ValueError, match="alt_text must say in a sentence what the figure shows"):
        plots.describe_figure(alt_text, figure)
    assert plots.alt_text_of(figure) is None
    plt.close(figure)
