"""Issue 20 on the real chapters 04, 05, 06 and 08, graded by the CLI in one batch: training on (or reading) the
checks' held-out data scores nothing, a crafted model file that declares a huge layer is refused by its size, and an
honest forecaster that reads the course's data by a relative path gets full marks."""

from grading_helpers import grade_real_chapter_answers

HELDOUT_FOLDER = 'os.path.join(os.path.dirname(dlcourse.__file__), "checks", "heldout", {file!r})'
HELDOUT_DIGITS_READER = f'''import os
import dlcourse

heldout_digits = np.load({HELDOUT_FOLDER.format(file="mnist_test_digits.npz")})
keras.utils.set_random_seed(1)
cnn_model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
cnn_model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
cnn_model.fit(heldout_digits["images"][..., None] / 255.0, heldout_digits["labels"], epochs=1, verbose=0)'''
HELDOUT_SUNSPOTS_READER = f'''import os
import dlcourse

all_years = np.loadtxt({HELDOUT_FOLDER.format(file="sunspots.csv")}, delimiter=",", skiprows=1)
forecaster_model = keras.Sequential([keras.Input(shape=(12, 1)), keras.layers.GRU(32), keras.layers.Dense(1)])
forecaster_model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")'''
HONEST_RELATIVE_PATH_FORECASTER = '''keras.utils.set_random_seed(1)
table = np.loadtxt("../datasets/sunspots_1700_1969.csv", delimiter=",", skiprows=1)
my_years, my_counts = table[:, 0], table[:, 1]
my_mean, my_std = my_counts[my_years < 1930].mean(), my_counts[my_years < 1930].std()
my_scaled = ((my_counts - my_mean) / my_std).astype("float32")
my_windows = np.stack([my_scaled[start:start + 12] for start in range(len(my_scaled) - 12)])[..., None]
my_targets, my_target_years = my_scaled[12:], my_years[12:]
forecaster_model = keras.Sequential([keras.Input(shape=(12, 1)), keras.layers.GRU(32), keras.layers.Dense(1)])
forecaster_model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")
forecaster_model.fit(my_windows[my_target_years < 1930], my_targets[my_target_years < 1930], epochs=20,
                     batch_size=32, verbose=0)'''
HELDOUT_RATINGS_READER = f'''import os
import dlcourse

heldout_ratings = np.load({HELDOUT_FOLDER.format(file="synthetic_ratings_heldout.npz")})
user_input = keras.Input(shape=(1,), dtype="int32")
item_input = keras.Input(shape=(1,), dtype="int32")
user_embedding = keras.layers.Embedding(NUM_USERS, 8)(user_input)
item_embedding = keras.layers.Embedding(NUM_ITEMS, 8)(item_input)
rating = keras.layers.Flatten()(keras.layers.Dot(axes=2)([user_embedding, item_embedding]))
recommender_model = keras.Model([user_input, item_input], rating)'''
CRAFTED_DISCRIMINATOR = '''import io, json, tempfile, zipfile

def crafted_save(path, *arguments, **options):
    """Save a tiny real model, then make its config declare Dense(8000) on 8000 inputs."""
    tiny = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    with tempfile.TemporaryDirectory() as folder:
        tiny.save(folder + "/tiny.keras")
        source = zipfile.ZipFile(folder + "/tiny.keras")
        with zipfile.ZipFile(path, "w") as archive:
            for name in source.namelist():
                content = source.read(name)
                if name == "config.json":
                    config = json.loads(content)
                    input_layer, dense = config["config"]["layers"]
                    input_layer["config"]["batch_shape"] = [None, 8000]
                    dense["config"]["units"] = 8000
                    dense["build_config"]["input_shape"] = [None, 8000]
                    config["build_config"]["input_shape"] = [None, 8000]
                    content = json.dumps(config).encode()
                archive.writestr(name, content)

colour_discriminator = keras.Sequential([
    keras.Input(shape=(32, 32, 3)),
    keras.layers.Conv2D(32, 4, strides=2, padding="same"), keras.layers.LeakyReLU(0.2),
    keras.layers.Conv2D(64, 4, strides=2, padding="same"), keras.layers.LeakyReLU(0.2),
    keras.layers.Flatten(), keras.layers.Dropout(0.3), keras.layers.Dense(1),
])
object.__setattr__(colour_discriminator, "save", crafted_save)'''
# Under the sandbox the held-out files are hidden: a reader that opens one is caught opening it ("reads the checks'
# held-out data"), one that checks for it first (np.loadtxt) fails with "... heldout/... not found". Both score 0.
HELD_OUT_WORDS = "heldout/"
CASES = {  # student: (chapter, exercise, answer, status, words of its message)
    "heldout_digits_reader": ("ch04", "ch04.cnn_classifier", HELDOUT_DIGITS_READER, "failed", HELD_OUT_WORDS),
    "heldout_sunspots_reader": ("ch05", "ch05.forecaster", HELDOUT_SUNSPOTS_READER, "failed", HELD_OUT_WORDS),
    "honest_relative_path": ("ch05", "ch05.forecaster", HONEST_RELATIVE_PATH_FORECASTER, "passed", ""),
    "crafted_discriminator": ("ch06", "ch06.discriminator", CRAFTED_DISCRIMINATOR, "failed",
                              "Your model declares 64,008,000 parameters"),
    "heldout_ratings_reader": ("ch08", "ch08.recommender_model", HELDOUT_RATINGS_READER, "failed", HELD_OUT_WORDS),
}


def test_heldout_data_cheats_and_a_crafted_model_score_nothing_and_honest_work_passes(tmp_path):
    table = grade_real_chapter_answers(CASES, tmp_path)
    for student, (_, exercise_id, _, status, words) in CASES.items():
        row = table[student][exercise_id]
        observed = "passed" if row["status"] == "passed" else "failed"  # "error" (the cell raised) also scores 0
        assert (observed, words in row["message"]) == (status, True), (student, row["message"])
        assert float(row["points"]) == (float(row["max_points"]) if status == "passed" else 0.0), (student, row)
        others = {row["status"] for exercise, row in table[student].items() if exercise != exercise_id}
        assert others == {"not_attempted"}, (student, others)
