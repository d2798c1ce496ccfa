"""Chapter 07 exercises: transfer learning."""

from __future__ import annotations

import functools

import numpy as np

from dlcourse.checks import diagnostics
from dlcourse.checks.framework import (Case, DesignExercise, FunctionExercise, LazyCases, Mistake, ModelExercise,
                                       ScoredFunctionExercise, gather_evidence, low_score_message,
                                       score_classifier)

NUM_NEW_DIGITS = 300       # held-out digits to label: the first 300 of dlcourse/checks/heldout's 500 input digits

# ------------------------------------------------------------------ shared data, loaded only when a check needs it


@functools.lru_cache(maxsize=1)
def _mnist_split():
    """The course's MNIST split (4000 training digits, 1000 test digits), loaded once: the lesson's training digits."""
    from dlcourse import datasets

    return datasets.load_mnist_split(num_test=1000, seed=0)


def _heldout_scoring_digits():
    """The 1000 held-out MNIST test digits that models are scored on here (never sent to a kernel)."""
    from dlcourse.checks import heldout

    return heldout.load_model_scoring_digits()


def _heldout_input_digits():
    """The 500 held-out MNIST test digits sent to a function as unlabelled inputs; their labels stay here."""
    from dlcourse.checks import heldout

    return heldout.load_input_digits()


def _scale(images):
    """uint8 images (N, 28, 28) as float32 in [0, 1] with a channel axis."""
    return (np.asarray(images, dtype="float32") / 255.0)[..., None]


def load_pretrained_base():
    """The chapter's base CNN, pretrained on Fashion-MNIST, as shipped in datasets/."""
    import keras

    from dlcourse import datasets

    return keras.models.load_model(datasets.transfer_base_path(), compile=False)


def _label_format_problem(predictions, labels):
    """Why predicted class labels can't be scored ('' when they can): not an array, probabilities, the wrong shape."""
    if predictions.ndim == 2 and predictions.shape == (len(labels), 10):
        return ("Your function returned one row of 10 probabilities per image. Return the predicted digit of "
                "each image instead: `probabilities.argmax(axis=-1)`.")
    if predictions.shape != (len(labels),):
        return (f"Return one predicted digit per image, an array of shape ({len(labels)},); "
                f"yours has shape {predictions.shape}.")
    if not np.issubdtype(predictions.dtype, np.number) or not np.all(np.isfinite(predictions)):
        return "Your predictions are not all finite numbers: return the digits 0-9 as integers."
    return ""


def describe_most_often_wrong(predictions, labels, count=3):
    """The digits most often predicted wrong, e.g. 'the digit 4 (12 of 50 wrong, most often read as 9)'."""
    wrong_by_digit = []
    for digit in np.unique(labels):
        of_digit = labels == digit
        wrong = predictions[of_digit & (predictions != labels)]
        if len(wrong):
            values, counts = np.unique(wrong, return_counts=True)
            wrong_by_digit.append((len(wrong), int(digit), int(of_digit.sum()), int(values[counts.argmax()])))
    worst = sorted(wrong_by_digit, key=lambda item: (-item[0], item[1]))[:count]
    return ", ".join(f"the digit {digit} ({wrong} of {total} wrong, most often read as {read_as})"
                     for wrong, digit, total, read_as in worst)


def _score_predicted_labels(predictions, labels, minimum_score, recipe):
    """(accuracy, problem) for predicted class labels against the true ones; below the bar, what differs (one digit
    for every image, or the digits most often wrong), then the exercise's recipe as a checklist."""
    try:
        predictions = np.asarray(predictions)
    except (TypeError, ValueError):
        return 0.0, f"Return a NumPy array of predicted digits; your function returned {type(predictions).__name__}."
    problem = _label_format_problem(predictions, labels)
    if problem:
        return 0.0, problem
    accuracy = float(np.mean(predictions == labels))
    if np.all(predictions == predictions.flat[0]):
        observed = f"Your function predicts the digit {int(predictions.flat[0])} for every image (accuracy {accuracy:.2f})."
    elif accuracy < minimum_score:
        observed = (f"Your accuracy is {accuracy:.3f}, below the required {minimum_score:.2f}. Most often wrong: "
                    f"{describe_most_often_wrong(predictions, labels)}.")
    else:
        return accuracy, ""
    return accuracy, low_score_message(observed, [], recipe)


# ------------------------------------------------------------------ references


def reference_count_parameters(layers):
    """{"trainable": ..., "non_trainable": ...} for a list of layer descriptions, as Keras counts them."""
    trainable = non_trainable = 0
    for layer in layers:
        kind, frozen = layer["type"], bool(layer["frozen"])
        if kind == "conv2d":
            weights = layer["kernel_size"] ** 2 * layer["input_channels"] * layer["filters"]
            weights += layer["filters"] if layer["use_bias"] else 0
            statistics = 0
        elif kind == "dense":
            weights, statistics = layer["inputs"] * layer["units"] + layer["units"], 0
        elif kind == "batch_norm":
            weights, statistics = 2 * layer["channels"], 2 * layer["channels"]  # gamma, beta; moving mean, variance
        else:
            raise ValueError(f"unknown layer type {kind!r}")
        if frozen:
            non_trainable += weights
        else:
            trainable += weights
        non_trainable += statistics
    return {"trainable": trainable, "non_trainable": non_trainable}


def reference_trainable_flags(layer_types, num_top_blocks):
    """One flag per layer: True for the layers of the top `num_top_blocks` blocks, except BatchNormalization.

    A block starts at each Conv2D and runs until the next one; layers before the first Conv2D are in no block.
    """
    block_starts = [index for index, kind in enumerate(layer_types) if kind == "Conv2D"]
    if num_top_blocks <= 0:
        first_trainable = len(layer_types)
    elif num_top_blocks >= len(block_starts):
        first_trainable = block_starts[0] if block_starts else len(layer_types)
    else:
        first_trainable = block_starts[-num_top_blocks]
    return [index >= first_trainable and kind != "BatchNormalization" for index, kind in enumerate(layer_types)]


def build_frozen_base_reference():
    """The pretrained base with every layer frozen."""
    base = load_pretrained_base()
    base.trainable = False
    return base


def build_transfer_reference_model():
    """A frozen pretrained base (run in inference mode) and a new softmax head for the 10 digits."""
    import keras

    base = build_frozen_base_reference()
    inputs = keras.Input(shape=(28, 28, 1))
    features = base(inputs, training=False)
    outputs = keras.layers.Dense(10, activation="softmax")(features)
    return keras.Model(inputs, outputs)


# ------------------------------------------------------------------ exercise: freeze the base


def score_frozen_base(model):
    """1.0 when every weight is still the pretrained one, else the fraction of weight tensors that are."""
    reference = load_pretrained_base().get_weights()
    weights = model.get_weights()
    if len(weights) != len(reference) or any(w.shape != r.shape for w, r in zip(weights, reference)):
        return 0.0, "Your base's weights do not have the pretrained base's shapes."
    same = [np.allclose(w, r, atol=1e-6) for w, r in zip(weights, reference)]
    score = float(np.mean(same))
    if score < 1.0:
        return score, ("The architecture and the frozen layers are right, but the weights are not the pretrained "
                       "ones: load the base with `keras.models.load_model(datasets.transfer_base_path())` and freeze "
                       "it, without rebuilding it or training it.")
    return score, ""


freeze_base = ModelExercise(
    exercise_id="ch07.freeze_base",
    title="Load the pretrained base and freeze it",
    hints=[
        "Load the base with `keras.models.load_model(datasets.transfer_base_path())`; freezing means its weights "
        "become non-trainable, so `fit` leaves them alone.",
        "One line freezes every layer inside a model: `model.trainable = False`. Freezing only the Conv2D layers "
        "leaves BatchNormalization's gamma and beta trainable.",
    ],
    build_reference=build_frozen_base_reference,
    score_model=score_frozen_base,
    metric_name="fraction of pretrained weights kept",
    minimum_score=1.0,
    time_limit_seconds=30.0,
)

# ------------------------------------------------------------------ exercise: count parameters


def _conv(kernel_size, input_channels, filters, frozen, use_bias=False):
    return {"type": "conv2d", "kernel_size": kernel_size, "input_channels": input_channels, "filters": filters,
            "use_bias": use_bias, "frozen": frozen}


def _batch_norm(channels, frozen):
    return {"type": "batch_norm", "channels": channels, "frozen": frozen}


def _dense(inputs, units, frozen):
    return {"type": "dense", "inputs": inputs, "units": units, "frozen": frozen}


def _chapter_base(frozen_blocks, frozen_norms=None):
    frozen_norms = frozen_blocks if frozen_norms is None else frozen_norms
    layers = []
    for (channels_in, filters), frozen, frozen_norm in zip(((1, 16), (16, 32), (32, 64)), frozen_blocks, frozen_norms):
        layers += [_conv(3, channels_in, filters, frozen), _batch_norm(filters, frozen_norm)]
    return layers


def _counts_moving_statistics_as_trainable(layers):
    counts = reference_count_parameters(layers)
    moved = sum(2 * layer["channels"] for layer in layers if layer["type"] == "batch_norm" and not layer["frozen"])
    return {"trainable": counts["trainable"] + moved, "non_trainable": counts["non_trainable"] - moved}


def _ignores_frozen(layers):
    return reference_count_parameters([{**layer, "frozen": False} for layer in layers])


def _forgets_moving_statistics(layers):
    counts = reference_count_parameters(layers)
    statistics = sum(2 * layer["channels"] for layer in layers if layer["type"] == "batch_norm")
    return {"trainable": counts["trainable"], "non_trainable": counts["non_trainable"] - statistics}


def _count_without_biases(layers):
    counts = reference_count_parameters(layers)
    for layer in layers:
        biases = (layer["filters"] if layer["type"] == "conv2d" and layer["use_bias"] else
                  layer["units"] if layer["type"] == "dense" else 0)
        counts["non_trainable" if layer["frozen"] else "trainable"] -= biases
    return counts


count_parameters = FunctionExercise(
    exercise_id="ch07.count_parameters",
    title="Count the trainable and non-trainable parameters of a partly frozen model",
    hints=[
        "A frozen layer's weights are all non-trainable. BatchNormalization has 4 numbers per channel: gamma and "
        "beta are trainable (unless the layer is frozen), the moving mean and variance are never trained by "
        "gradient descent, so they are always non-trainable.",
        "Conv2D: `kernel_size**2 * input_channels * filters`, plus `filters` biases when `use_bias` is True. "
        "Dense: `inputs * units + units`.",
        "Loop over the layers, compute each one's weights, add them to 'trainable' or 'non_trainable' depending on "
        "`frozen`, and add `2 * channels` moving statistics of every BatchNormalization to 'non_trainable'.",
    ],
    reference=reference_count_parameters,
    cases=[
        Case("the chapter's base, frozen, and a new Dense head (576 -> 10)",
             (_chapter_base((True, True, True)) + [_dense(576, 10, False)],)),
        Case("the same with the top block unfrozen but its BatchNormalization kept frozen",
             (_chapter_base((True, True, False), (True, True, True)) + [_dense(576, 10, False)],)),
        Case("everything trainable (training from scratch)",
             (_chapter_base((False, False, False)) + [_dense(576, 10, False)],)),
        Case("two Dense layers, the first frozen",
             ([_dense(784, 32, True), _dense(32, 10, False)],)),
        Case("a frozen 5x5 Conv2D with biases, a trainable BatchNormalization and a Dense head",
             ([_conv(5, 3, 8, True, use_bias=True), _batch_norm(8, False), _dense(8, 2, False)],)),
    ],
    mistakes=[
        Mistake("BatchNormalization's moving mean and variance are counted as trainable. They are updated from "
                "batch statistics, never by gradient descent, so Keras always lists them as non-trainable "
                "(only gamma and beta are trainable).", _counts_moving_statistics_as_trainable),
        Mistake("the `frozen` flag is ignored: every weight of a frozen layer is non-trainable.", _ignores_frozen),
        Mistake("BatchNormalization's moving mean and variance are missing: each channel has 4 numbers "
                "(gamma, beta, moving mean, moving variance), and the moving statistics are non-trainable.",
                _forgets_moving_statistics),
        Mistake("the biases are missing: a Dense layer has `units` biases, and a Conv2D with `use_bias=True` has "
                "`filters` of them.", _count_without_biases),
    ],
)

# ------------------------------------------------------------------ exercise: a transfer model


TRANSFER_MINIMUM_ACCURACY = 0.80
TRANSFER_OVERFIT_GAP = 0.2  # the notebook's head reaches about 1.0 on its 200 digits and 0.89 on held-out ones
TRANSFER_RECIPE = ("Train the head longer or with a larger learning rate (only the head trains), and scale the "
                   "pixels to [0, 1].")


def lesson_transfer_training_digits():
    """The 200 digits the lesson trains the transfer model on (`balanced_indices(200)`), scaled, and their labels."""
    train_images, train_labels, _, _ = _mnist_split()
    generator = np.random.default_rng(0)
    per_digit = [generator.choice(np.flatnonzero(train_labels == digit), 20, replace=False) for digit in range(10)]
    indices = generator.permutation(np.concatenate(per_digit))
    return _scale(train_images[indices]), train_labels[indices]


def transfer_unscaled_pixels_advice(model):
    """Advice naming unscaled training images, only when the model scores clearly higher on 0-255 pixels."""
    test_images, test_labels = _heldout_scoring_digits()
    return diagnostics.unscaled_pixels_advice(model, _scale(test_images), test_labels)


def _nested_base(model):
    """The model's nested base (the first layer that is itself a model), or None."""
    return next((layer for layer in model.layers if getattr(layer, "layers", None)), None)


def pretrained_base_advice(model):
    """Advice naming a base whose weights are not the pretrained ones, only when they differ; else ''."""
    base = _nested_base(model)
    if base is None:
        return ""
    reference, weights = load_pretrained_base().get_weights(), base.get_weights()
    if len(weights) != len(reference) or any(w.shape != r.shape for w, r in zip(weights, reference)):
        return ""
    changed = sum(not np.allclose(w, r, atol=1e-6) for w, r in zip(weights, reference))
    if not changed:
        return ""
    return (f"{changed} of the base's {len(reference)} weight tensors are not the pretrained ones: start from a fresh "
            "copy of the pretrained base, `keras.models.load_model(datasets.transfer_base_path())`, with "
            "`base.trainable = False` before you build and train the model.")


def transfer_fit_advice(model):
    """Underfitting or overfitting, from the accuracy on the lesson's 200 training digits against held-out digits."""
    if diagnostics.untrained_layers(model):
        return ""  # untrained_model_advice names that cause
    training = diagnostics.model_accuracy(model, *lesson_transfer_training_digits())
    test_images, test_labels = _heldout_scoring_digits()
    heldout = diagnostics.model_accuracy(model, _scale(test_images), test_labels)
    return diagnostics.underfit_or_overfit_advice(
        training, heldout, TRANSFER_MINIMUM_ACCURACY,
        underfit_advice=(f"On the lesson's 200 training digits your model's accuracy is only {training:.3f} too: the "
                         "head underfits. Train it longer or with a larger learning rate (Adam at about 1e-2: only "
                         "the head trains)."),
        overfit_advice=(f"Your model reaches {training:.3f} on the lesson's 200 training digits but only "
                        f"{heldout:.3f} on held-out digits: it overfits them. Keep the base frozen and pretrained, "
                        "and train only the head, for about 3000 examples seen."),
        gap=TRANSFER_OVERFIT_GAP)


TRANSFER_EVIDENCE = (diagnostics.untrained_model_advice, pretrained_base_advice, transfer_unscaled_pixels_advice,
                     transfer_fit_advice)


def score_transfer_model(model):
    """Accuracy on the 1000 held-out MNIST test digits of dlcourse/checks/heldout (not in the lesson's data), and a
    message if it predicts one digit for every image (with the causes the check found evidence for)."""
    input_shape = tuple(model.input_shape) if not isinstance(model.input_shape, list) else model.input_shape
    if input_shape != (None, 28, 28, 1):
        return 0.0, (f"Your model's input shape is {input_shape}; the digits are 28x28 grey images with one channel, "
                     "(None, 28, 28, 1): start from `keras.Input(shape=(28, 28, 1))`, the base's input shape.")
    test_images, test_labels = _heldout_scoring_digits()
    probabilities = np.asarray(model.predict(_scale(test_images), batch_size=500, verbose=0))
    if not np.all(np.isfinite(probabilities)):
        return 0.0, "Your model outputs NaN: training diverged. Lower the learning rate and rebuild the model."
    predictions = probabilities.argmax(axis=-1)
    accuracy = float(np.mean(predictions == test_labels))
    if np.all(predictions == predictions[0]):
        return accuracy, low_score_message(
            f"Your model predicts the digit {int(predictions[0])} for every image (accuracy {accuracy:.2f}).",
            gather_evidence(TRANSFER_EVIDENCE, model), TRANSFER_RECIPE)
    return accuracy, ""


transfer_model = ModelExercise(
    exercise_id="ch07.transfer_model",
    title="A transfer model: the frozen pretrained base and a new head, trained on 200 digits",
    hints=[
        "Start from a new input, `inputs = keras.Input(shape=(28, 28, 1))`, run the frozen base on it in "
        "inference mode, `features = base(inputs, training=False)`, and put a new "
        "`keras.layers.Dense(10, activation=\"softmax\")` on the features.",
        "Load a fresh copy of the base and set `base.trainable = False` before building the model, so only the "
        "head's 5770 weights train.",
        "Compile with Adam (learning rate about 1e-2: only the small head trains) and "
        "`loss=\"sparse_categorical_crossentropy\"`, and fit on the scaled images `train_x[few_200]` with "
        "`fit_on_few(..., num_seen=3000)`: 15 passes over the 200 digits.",
    ],
    build_reference=build_transfer_reference_model,
    score_model=score_transfer_model,
    metric_name="accuracy",
    minimum_score=TRANSFER_MINIMUM_ACCURACY,
    low_score_advice=TRANSFER_RECIPE,
    low_score_evidence=TRANSFER_EVIDENCE,
    time_limit_seconds=60.0,
)

# ------------------------------------------------------------------ exercise: choose what to unfreeze

_BASE_TYPES = ["InputLayer", "Conv2D", "BatchNormalization", "Activation", "MaxPooling2D",
               "Conv2D", "BatchNormalization", "Activation", "MaxPooling2D",
               "Conv2D", "BatchNormalization", "Activation", "MaxPooling2D", "Flatten"]
_DEEPER_TYPES = ["InputLayer", "Rescaling", "Conv2D", "BatchNormalization", "Activation", "MaxPooling2D",
                 "Conv2D", "BatchNormalization", "Activation", "MaxPooling2D",
                 "Conv2D", "BatchNormalization", "Activation", "MaxPooling2D",
                 "Conv2D", "BatchNormalization", "Activation", "Flatten", "Dropout", "Dense"]


def _unfreezes_batch_norm(layer_types, num_top_blocks):
    flags = reference_trainable_flags(layer_types, num_top_blocks)
    starts = [index for index, kind in enumerate(layer_types) if kind == "Conv2D"]
    first = len(layer_types) if num_top_blocks <= 0 else starts[max(len(starts) - num_top_blocks, 0)]
    return [flag or (kind == "BatchNormalization" and index >= first)
            for index, (flag, kind) in enumerate(zip(flags, layer_types))]


def _unfreezes_bottom_blocks(layer_types, num_top_blocks):
    starts = [index for index, kind in enumerate(layer_types) if kind == "Conv2D"] + [len(layer_types)]
    end = starts[min(num_top_blocks, len(starts) - 1)] if num_top_blocks > 0 else 0
    return [starts[0] <= index < end and kind != "BatchNormalization" for index, kind in enumerate(layer_types)]


def _one_block_too_many(layer_types, num_top_blocks):
    return reference_trainable_flags(layer_types, num_top_blocks + 1)


def _unfreezes_layers_before_the_first_block(layer_types, num_top_blocks):
    """With every block unfrozen, the layers before the first Conv2D (the input, Rescaling) are unfrozen too."""
    flags = reference_trainable_flags(layer_types, num_top_blocks)
    starts = [index for index, kind in enumerate(layer_types) if kind == "Conv2D"]
    if num_top_blocks < len(starts):
        return flags
    return [kind != "BatchNormalization" for kind in layer_types]


trainable_flags = FunctionExercise(
    exercise_id="ch07.trainable_flags",
    title="Choose what to unfreeze for fine-tuning: the top blocks, with BatchNormalization kept frozen",
    hints=[
        "Fine-tuning unfreezes the *top* of the base (the last blocks, whose features are the most specific to the "
        "source task) and keeps the bottom frozen. A block starts at each Conv2D and runs until the next one.",
        "BatchNormalization stays frozen even inside an unfrozen block, so it keeps running in inference mode with "
        "its pretrained statistics.",
        "Find the indices of the Conv2D layers; the first trainable layer is the Conv2D at "
        "`conv_indices[-num_top_blocks]` (none when `num_top_blocks` is 0); every later layer is trainable unless it "
        "is a BatchNormalization.",
    ],
    reference=reference_trainable_flags,
    cases=[
        Case("the chapter's base, 1 top block", (_BASE_TYPES, 1)),
        Case("the chapter's base, 2 top blocks", (_BASE_TYPES, 2)),
        Case("a deeper base with a Dense top, 1 top block", (_DEEPER_TYPES, 1)),
        Case("a deeper base, 3 top blocks", (_DEEPER_TYPES, 3)),
        Case("the chapter's base, 0 blocks (feature extraction: everything frozen)", (_BASE_TYPES, 0)),
        Case("a deeper base, all 4 blocks (the Rescaling before the first Conv2D is in no block)", (_DEEPER_TYPES, 4)),
    ],
    mistakes=[
        Mistake("the BatchNormalization layers of the unfrozen blocks are unfrozen too. Keep them frozen: a frozen "
                "BatchNormalization runs in inference mode with its pretrained statistics, while a trainable one "
                "would re-estimate them from small batches of the new data.", _unfreezes_batch_norm),
        Mistake("the *bottom* blocks are unfrozen. Fine-tune the top ones: early layers learn general edges and "
                "textures worth keeping; the last blocks are the most specific to the source task.",
                _unfreezes_bottom_blocks),
        Mistake("one block too many is unfrozen: with `num_top_blocks` = k, the first trainable layer is the k-th "
                "Conv2D from the end.", _one_block_too_many),
        Mistake("with every block unfrozen, the layers before the first Conv2D (the input, Rescaling) are unfrozen "
                "too. They are in no block: the first trainable layer is the first Conv2D.",
                _unfreezes_layers_before_the_first_block),
    ],
)

# ------------------------------------------------------------------ exercise: fine-tune the top two blocks (a design task)


FINE_TUNE_UNFROZEN = ("block2_conv", "block3_conv")        # the convolutions of the top two blocks
FINE_TUNE_FROZEN = ("block1_conv", "block1_bn", "block2_bn", "block3_bn")
FINE_TUNE_MINIMUM_ACCURACY = 0.80   # the hinted recipe scores 0.824-0.851 on the 1000 held-out digits (10 seeds)
FINE_TUNE_MAXIMUM_MOVE = 0.25       # a kernel's distance from the pretrained one, as a fraction of its norm: Adam at
#                                     1e-4 or 1e-3 moves the top kernels by 0.01-0.07, at 1e-2 by 0.37-0.57
FINE_TUNE_FROM_SCRATCH_MOVE = 0.9   # block1_conv this far from the pretrained kernel: not started from it
FINE_TUNE_PARAMETER_BUDGET = 40_000
FINE_TUNE_RECIPE = ("Train the head first on the frozen base (Adam at 1e-2, about 2000 examples seen), then unfreeze "
                    "block2_conv and block3_conv, recompile with Adam at 1e-4 and train about 1000 more examples, on "
                    "pixels scaled to [0, 1].")


def build_fine_tune_reference_model():
    """One design within the task's constraints (the solution's): the transfer model with block2_conv and
    block3_conv trainable, everything else in the base frozen. Used only by the tests."""
    model = build_transfer_reference_model()
    base = _nested_base(model)
    base.trainable = True
    for layer in base.layers:
        layer.trainable = layer.name in FINE_TUNE_UNFROZEN
    return model


def _named_layers(model):
    """{name: layer} for every layer of a model, nested models' layers included (the first of a name wins)."""
    found = {}
    for layer in getattr(model, "layers", []):
        found.setdefault(layer.name, layer)
        for name, inner in _named_layers(layer).items():
            found.setdefault(name, inner)
    return found


def _relative_move(weights, pretrained):
    """How far a weight tensor is from the pretrained one, as a fraction of the pretrained one's norm."""
    return float(np.linalg.norm(weights - pretrained) / np.linalg.norm(pretrained))


def fine_tuning_problem(model):
    """'' when the model holds the pretrained base fine-tuned as asked, else what its weights show: frozen layers
    changed (BatchNormalization's statistics, block 1), the top two convolutions unchanged, or moved too far."""
    pretrained = _named_layers(load_pretrained_base())
    layers = _named_layers(model)
    names = FINE_TUNE_FROZEN + FINE_TUNE_UNFROZEN
    missing = [name for name in names if name not in layers or
               [tuple(w.shape) for w in layers[name].get_weights()] != [tuple(w.shape) for w in pretrained[name].get_weights()]]
    if missing:
        return (f"Your model has no layer {missing[0]!r} with the pretrained base's shapes: build it on a fresh copy of "
                "the pretrained base, `keras.models.load_model(datasets.transfer_base_path())`.")
    changed = {name: [not np.allclose(w, r, atol=1e-6) for w, r in zip(layers[name].get_weights(),
                                                                        pretrained[name].get_weights())]
               for name in names}
    moves = {name: _relative_move(layers[name].get_weights()[0], pretrained[name].get_weights()[0])
             for name in ("block1_conv",) + FINE_TUNE_UNFROZEN}
    if all(all(flags) for flags in changed.values()) and moves["block1_conv"] > FINE_TUNE_FROM_SCRATCH_MOVE:
        return (f"None of your base's weights is the pretrained one, and block1_conv's kernel is "
                f"{moves['block1_conv']:.0%} of its norm away from it: the base was not started from the pretrained "
                "weights, or all of it trained with a large learning rate. Start from a fresh copy, "
                "`keras.models.load_model(datasets.transfer_base_path())`, and unfreeze only block2_conv and "
                "block3_conv.")
    changed_norms = [name for name in FINE_TUNE_FROZEN if name.endswith("_bn") and any(changed[name])]
    if changed_norms:
        statistics = [name for name in changed_norms if any(changed[name][2:])]
        trainable = [name for name in changed_norms if layers[name].trainable]
        return (f"The weights of {', '.join(changed_norms)} changed"
                + (" (their moving mean and variance included)" if statistics else "")
                + (f"; {', '.join(trainable)} {'is' if len(trainable) == 1 else 'are'} trainable in your model" if trainable else "")
                + ". BatchNormalization must stay frozen while fine-tuning (Pitfall 1): a trainable one normalises "
                "with each batch's statistics during `fit` and drifts from the pretrained ones. Unfreeze only the "
                "convolutions: `layer.trainable = layer.name in (\"block2_conv\", \"block3_conv\")`.")
    if any(changed["block1_conv"]):
        return (f"block1_conv changed (its kernel moved by {moves['block1_conv']:.1%} of its norm): the task unfreezes "
                "only the top two blocks. Keep block 1, the most general features, frozen.")
    unchanged = [name for name in FINE_TUNE_UNFROZEN if not any(changed[name])]
    if unchanged:
        trainable = [name for name in unchanged if layers[name].trainable]
        state = (f"{' and '.join(trainable)} {'is' if len(trainable) == 1 else 'are'} trainable now: did you call `fit` "
                 "again after unfreezing and recompiling?" if trainable else
                 f"{'it is' if len(unchanged) == 1 else 'they are'} still frozen in your model")
        return (f"{' and '.join(unchanged)} still {'holds' if len(unchanged) == 1 else 'hold'} the pretrained weights: "
                f"fine-tuning never changed {'it' if len(unchanged) == 1 else 'them'} ({state}). After training the "
                "head, set `trainable = True` on block2_conv and block3_conv, recompile with a low learning rate, and "
                "train again.")
    too_far = [name for name in FINE_TUNE_UNFROZEN if moves[name] > FINE_TUNE_MAXIMUM_MOVE]
    if too_far:
        return (f"{' and '.join(f'{name} moved by {moves[name]:.0%}' for name in too_far)} of "
                f"{'its' if len(too_far) == 1 else 'their'} pretrained norm (at most {FINE_TUNE_MAXIMUM_MOVE:.0%} "
                "is fine-tuning): the learning rate was too high, and the pretrained features were overwritten rather "
                "than adjusted (Pitfall 2). Recompile with a low learning rate, e.g. Adam at 1e-4, after the head is "
                "trained.")
    return ""


def fine_tune_unscaled_pixels_advice(model):
    """Advice naming unscaled training images, only when the model scores clearly higher on 0-255 pixels."""
    test_images, test_labels = _heldout_scoring_digits()
    return diagnostics.unscaled_pixels_advice(model, _scale(test_images), test_labels)


FINE_TUNE_EVIDENCE = (diagnostics.untrained_model_advice, fine_tune_unscaled_pixels_advice)


def score_fine_tuned_model(model):
    """The fine-tuning evidence in the weights first (a problem if it is missing), then the accuracy on the 1000
    held-out MNIST test digits that no lesson cell loads."""
    problem = fine_tuning_problem(model)
    if problem:
        return 0.0, problem
    test_images, test_labels = _heldout_scoring_digits()
    return score_classifier(model, _scale(test_images), test_labels, FINE_TUNE_EVIDENCE, FINE_TUNE_RECIPE,
                            item="image", class_phrase="the digit {}")


fine_tune = DesignExercise(
    exercise_id="ch07.fine_tune",
    title="Fine-tune the top two blocks of the pretrained base on 100 labelled digits",
    hints=[
        "Two stages, as in Section 5: first train a new head on the frozen base (feature extraction), then unfreeze "
        "the convolutions of the top two blocks (block2_conv and block3_conv, not the BatchNormalization layers), "
        "recompile, and train a little more with a low learning rate. Call the base with `training=False`.",
        "Unfreeze with `base.trainable = True`, then `layer.trainable = layer.name in (\"block2_conv\", "
        "\"block3_conv\")` for every layer of the base; `fit` ignores the change until you recompile.",
        "Stage 1: Adam(1e-2), `fit_on_few(..., num_seen=2000)`. Stage 2: Adam(1e-4), `num_seen=1000`, on "
        "`train_x[few_100]` and `train_labels[few_100]` both times.",
    ],
    build_reference=build_fine_tune_reference_model,
    score_model=score_fine_tuned_model,
    metric_name="accuracy",
    minimum_score=FINE_TUNE_MINIMUM_ACCURACY,
    max_parameters=FINE_TUNE_PARAMETER_BUDGET,
    input_shape=(28, 28, 1),
    output_shape=(10,),
    low_score_advice=FINE_TUNE_RECIPE,
    low_score_evidence=FINE_TUNE_EVIDENCE,
    time_limit_seconds=60.0,
)

# ------------------------------------------------------------------ exercise: predict new inputs


def _new_digit_cases():
    """The first held-out input digits, unlabelled: images that no lesson cell loads."""
    test_images, _ = _heldout_input_digits()
    return [Case(f"{NUM_NEW_DIGITS} new uint8 digit images of shape (28, 28) that the model has not seen "
                 "(held-out MNIST test digits)", (test_images[:NUM_NEW_DIGITS],))]


PREDICT_DIGITS_MINIMUM_ACCURACY = 0.80
PREDICT_DIGITS_RECIPE = "Scale the images as in training, and train `transfer_model` first."


def score_new_digit_predictions(case, predictions):
    """Accuracy of the predicted labels of the new digits, against labels that only this process holds."""
    _, test_labels = _heldout_input_digits()
    labels = test_labels[:NUM_NEW_DIGITS]
    return _score_predicted_labels(predictions, labels, PREDICT_DIGITS_MINIMUM_ACCURACY, PREDICT_DIGITS_RECIPE)


predict_digits = ScoredFunctionExercise(
    exercise_id="ch07.predict_digits",
    title="Predict with the transfer model on new images",
    hints=[
        "New images must be prepared exactly like the training images: uint8 pixels scaled to [0, 1] and a channel "
        "axis added, shape (N, 28, 28, 1).",
        "`transfer_model.predict(...)` returns one row of 10 probabilities per image; the predicted digit is the "
        "column with the largest one.",
        "`return transfer_model.predict((images / 255.0)[..., None], verbose=0).argmax(axis=-1)`.",
    ],
    cases=LazyCases(_new_digit_cases),
    score_output=score_new_digit_predictions,
    minimum_score=PREDICT_DIGITS_MINIMUM_ACCURACY,
    metric_name="accuracy on the new digits",
    low_score_advice=PREDICT_DIGITS_RECIPE,
    time_limit_seconds=30.0,
)

EXERCISES = [freeze_base, count_parameters, transfer_model, trainable_flags, fine_tune, predict_digits]
