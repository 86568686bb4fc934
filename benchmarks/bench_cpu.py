"""numbacnn vs PyTorch and Keras/TensorFlow on the CPU, side by side in one run: training, inference, memory.

    pip install -e ".[bench]"            # torch==2.13.0 (CPU build) and tensorflow-cpu==2.21.0
    python benchmarks/bench_cpu.py       # every row, both peers, ratios, peak memory, start-up
    python benchmarks/bench_cpu.py --tf-python /opt/tfenv/bin/python   # TensorFlow in a venv of its own
    python benchmarks/bench_cpu.py --quick --rows cifar_cnn:32 --peers torch --no-start
    python benchmarks/bench_cpu.py --start-only --start-models --peers torch   # start-up of every model

All three run the same architecture on the same random data with the same batch size, loss and
optimizer, each with 2 threads and channels-last data (PyTorch: channels_last model and input; Keras:
its default NHWC layout, Keras's default ``jit_compile``, which is off on a CPU-only machine), timed in
steady state after a warm-up. Every measurement runs in a fresh process of its own (two frameworks'
thread pools in one process slow each other down), the frameworks alternating within each row, the
order reversed every other round; with ``--repeat N`` each figure is the best of N rounds. A ratio is
numbacnn / peer (above 1: numbacnn is faster); "/faster" is the ratio to the faster of the two peers.
Peak memory is the measurement process's peak resident set (VmHWM; ru_maxrss would count the parent's
peak, inherited across fork and exec). Start-up is timed from the process's spawn to the end of the first
training step: cold is numbacnn with an empty Numba cache (compilation included, by its compile worker
processes as a user's first step runs it), warm a new process with that cache filled. A peer that is
not installed is left out of the tables.
"""

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

THREADS = int(os.environ.get("BENCH_THREADS", "2"))  # threads per framework (2: this machine's cores)
ROWS = [("cifar_cnn", 32), ("cifar_cnn", 128), ("lenet5", 32), ("lenet5", 128),
        ("conv_model_pooling", 32), ("conv_model_pooling", 128), ("mobilenet", 32), ("mobilenet", 128),
        ("resnet20", 32), ("resnet20", 128), ("conv_autoencoder", 32), ("conv_autoencoder", 128)]
SPECS = {  # model: (input shape, optimizer, loss)
    "cifar_cnn": ((32, 32, 3), "adam", "sparse"),
    "lenet5": ((28, 28, 1), "adam", "sparse"),
    "conv_model_pooling": ((28, 28, 1), "sgd", "categorical"),
    "mobilenet": ((96, 96, 3), "adam", "sparse"),
    "resnet20": ((32, 32, 3), "sgd", "sparse"),
    "conv_autoencoder": ((64, 64, 1), "adam", "mse"),  # the target is the input
}
# "resnet20" is He et al.'s CIFAR ResNet-20 (numbacnn.applications.resnet20): a 3x3 stem, three stages of
# three basic blocks (16, 32, 64 filters; 1x1 projection shortcuts where the shape changes), global average
# pooling, 274,042 parameters; built the same way in Keras (keras_resnet20) and PyTorch (torch_resnet20).
# "mobilenet" is keras.applications.MobileNet's architecture at this width, 96x96x3, 10 classes: 13
# depthwise-separable blocks (DepthwiseConv2D, BatchNormalization, ReLU(6), 1x1 Conv2D, BatchNormalization,
# ReLU(6)); numbacnn.applications.MobileNet and keras.applications.MobileNet build it, PyTorch's twin is
# torch_mobilenet.
MOBILENET_ALPHA = 0.5
MOBILENET_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
                    (512, 1), (512, 1), (1024, 2), (1024, 1))
FRAMEWORKS = ("numbacnn", "torch", "tf")
LABELS = {"numbacnn": "numbacnn", "torch": "PyTorch", "tf": "Keras/TF"}
MODULES = {"numbacnn": ("numbacnn",), "torch": ("torch",), "tf": ("tensorflow", "keras")}
DISTRIBUTIONS = {"numbacnn": ("numbacnn",), "torch": ("torch",), "tf": ("tensorflow-cpu", "tensorflow")}
START_ROW = ("cifar_cnn", 32)


# ----- measurement workers (each runs in a process of its own) -------------------------------------------
def _data(name, batch, seed=0):
    shape, _, loss = SPECS[name]
    rng = np.random.default_rng(seed)
    x = rng.random((batch,) + shape, dtype=np.float32)
    if loss == "mse":
        return x, x
    y = rng.integers(0, 10, size=batch)
    if loss == "categorical":
        y = np.eye(10, dtype=np.float32)[y]
    return x, y


def _keras_loss(name):
    return {"sparse": "sparse_categorical_crossentropy", "categorical": "categorical_crossentropy",
            "mse": "mse"}[SPECS[name][2]]


def conv_autoencoder(layers, sequential):
    """A small convolutional autoencoder on 64x64x1 images from ``layers`` and ``sequential`` (numbacnn's
    or Keras's): a Conv2D/MaxPooling2D encoder to 16x16x8, then Conv2DTranspose (16 -> 33), Cropping2D
    (-> 32), UpSampling2D (-> 64) and a sigmoid Conv2D back to one channel."""
    return sequential([
        layers.InputLayer(shape=(64, 64, 1)),
        layers.Conv2D(16, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(8, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2DTranspose(8, 3, strides=2, activation="relu"), layers.Cropping2D(((0, 1), (0, 1))),
        layers.UpSampling2D(2), layers.Conv2D(1, 3, padding="same", activation="sigmoid")])


def numbacnn_model(name):
    """numbacnn's model of a row: ``numbacnn.applications`` or, for the autoencoder, the builder above."""
    from numbacnn import applications, layers, models

    if name == "conv_autoencoder":
        return conv_autoencoder(layers, models.Sequential)
    if name == "mobilenet":
        return applications.MobileNet(input_shape=SPECS[name][0], alpha=MOBILENET_ALPHA, classes=10)
    return applications.get(name)()


def numbacnn_steps(name, batch):
    """(train step, inference step, parameter count) of numbacnn's model on one batch."""
    model = numbacnn_model(name)
    model.compile(optimizer=SPECS[name][1], loss=_keras_loss(name))
    x, y = _data(name, batch)
    return (lambda: model.train_on_batch(x, y), lambda: model.predict(x, batch_size=batch, verbose=0),
            model.count_params())


def torch_model(name):
    import torch.nn as nn

    if name == "cifar_cnn":
        return nn.Sequential(
            nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(), nn.Linear(1024, 64), nn.ReLU(), nn.Linear(64, 10))
    if name == "lenet5":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(),
            nn.AvgPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(),
            nn.Linear(84, 10))
    if name == "conv_model_pooling":
        def bn(c, d2=True):
            return (nn.BatchNorm2d if d2 else nn.BatchNorm1d)(c, eps=1e-3, momentum=0.01)
        return nn.Sequential(
            nn.Conv2d(1, 64, 3, padding=1), bn(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 32, 3, padding=1), bn(32), nn.ReLU(), nn.Flatten(),
            nn.Linear(14 * 14 * 32, 32), bn(32, False), nn.ReLU(), nn.Linear(32, 10))
    if name == "mobilenet":
        return torch_mobilenet()
    if name == "resnet20":
        return torch_resnet20()
    if name == "conv_autoencoder":
        class Crop(nn.Module):  # Cropping2D(((0, 1), (0, 1))): the last row and column
            def forward(self, x):
                return x[:, :, :-1, :-1]

        return nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 8, 3, padding=1),
            nn.ReLU(), nn.MaxPool2d(2), nn.ConvTranspose2d(8, 8, 3, stride=2), nn.ReLU(), Crop(),
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(8, 1, 3, padding=1), nn.Sigmoid())
    raise ValueError(name)


def torch_resnet20():
    """numbacnn.applications.resnet20 in PyTorch (batch-norm's epsilon 1e-3 and momentum as Keras's)."""
    import torch.nn as nn

    def bn(c):
        return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01), nn.ReLU(),
                nn.Conv2d(cout, cout, 3, padding=1, bias=False), bn(cout))
            self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), bn(cout))
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.shortcut(x) + self.body(x))

    layers, cin = [nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16, eps=1e-3, momentum=0.01),
                   nn.ReLU()], 16
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(3):
            layers.append(Block(cin, filters, 2 if stage and not block else 1))
            cin = filters
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


def torch_mobilenet():
    """Keras's MobileNet in PyTorch: depthwise convolutions as groups=C, Keras's padding (a stride-2 block
    pads bottom and right by one), batch-norm's epsilon 1e-3, ReLU6."""
    import torch.nn as nn

    def bn_relu6(c):
        return [nn.BatchNorm2d(c, eps=1e-3, momentum=0.01), nn.ReLU6()]

    c = int(32 * MOBILENET_ALPHA)
    layers = [nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(3, c, 3, stride=2, bias=False), *bn_relu6(c)]
    for filters, stride in MOBILENET_BLOCKS:
        if stride == 1:
            layers.append(nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False))
        else:
            layers += [nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(c, c, 3, stride=2, groups=c, bias=False)]
        f = int(filters * MOBILENET_ALPHA)
        layers += [*bn_relu6(c), nn.Conv2d(c, f, 1, bias=False), *bn_relu6(f)]
        c = f
    layers += [nn.AdaptiveAvgPool2d(1), nn.Dropout(1e-3), nn.Conv2d(c, 10, 1), nn.Flatten()]
    return nn.Sequential(*layers)


def torch_steps(name, batch):
    """PyTorch's train and inference steps, channels-last model and input; BN's running stats counted."""
    import torch

    torch.set_num_threads(THREADS)
    model = torch_model(name).to(memory_format=torch.channels_last)
    opt = (torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7) if SPECS[name][1] == "adam"
           else torch.optim.SGD(model.parameters(), lr=0.01))
    x, y = _data(name, batch)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
    if SPECS[name][2] == "mse":
        yt, loss, head = xt, torch.nn.MSELoss(), (lambda out: out)
    else:
        yt = torch.from_numpy(np.argmax(y, axis=1) if y.ndim == 2 else y).long()
        loss, head = torch.nn.CrossEntropyLoss(), (lambda out: torch.softmax(out, 1))

    def train():
        if not model.training:
            model.train()
        opt.zero_grad(set_to_none=True)
        loss(model(xt), yt).backward()
        opt.step()

    def infer():
        if model.training:
            model.eval()
        with torch.inference_mode():
            head(model(xt))

    tensors = list(model.parameters()) + [b for n, b in model.named_buffers() if "running" in n]
    return train, infer, sum(t.numel() for t in tensors)


def keras_model(name):
    import keras

    layers = keras.layers
    if name == "cifar_cnn":
        return keras.Sequential([
            keras.Input((32, 32, 3)), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"), layers.Flatten(),
            layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")])
    if name == "lenet5":
        return keras.Sequential([
            keras.Input((28, 28, 1)), layers.Conv2D(6, 5, activation="tanh", padding="same"),
            layers.AveragePooling2D(2), layers.Conv2D(16, 5, activation="tanh"), layers.AveragePooling2D(2),
            layers.Flatten(), layers.Dense(120, activation="tanh"), layers.Dense(84, activation="tanh"),
            layers.Dense(10, activation="softmax")])
    if name == "conv_model_pooling":
        def bn_relu(h):
            return layers.Activation("relu")(layers.BatchNormalization()(h))
        x = keras.Input((28, 28, 1))
        h = layers.MaxPooling2D(2)(bn_relu(layers.Conv2D(64, 3, padding="same")(x)))
        h = layers.Flatten()(bn_relu(layers.Conv2D(32, 3, padding="same")(h)))
        h = bn_relu(layers.Dense(32)(h))
        return keras.Model(x, layers.Dense(10, activation="softmax")(h))
    if name == "mobilenet":
        return keras.applications.MobileNet(input_shape=SPECS[name][0], alpha=MOBILENET_ALPHA, weights=None,
                                            classes=10)
    if name == "resnet20":
        return keras_resnet20(keras)
    if name == "conv_autoencoder":
        return conv_autoencoder(layers, keras.Sequential)
    raise ValueError(name)


def keras_resnet20(keras):
    """numbacnn.applications.resnet20 in Keras."""
    layers = keras.layers

    def block(x, filters, stride):
        h = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
        h = layers.Activation("relu")(layers.BatchNormalization()(h))
        h = layers.BatchNormalization()(layers.Conv2D(filters, 3, padding="same", use_bias=False)(h))
        if stride != 1 or x.shape[-1] != filters:
            x = layers.BatchNormalization()(layers.Conv2D(filters, 1, strides=stride, use_bias=False)(x))
        return layers.Activation("relu")(layers.Add()([x, h]))

    inputs = keras.Input((32, 32, 3))
    x = layers.Activation("relu")(layers.BatchNormalization()(
        layers.Conv2D(16, 3, padding="same", use_bias=False)(inputs)))
    for stage, filters in enumerate((16, 32, 64)):
        for i in range(3):
            x = block(x, filters, 2 if stage and not i else 1)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(x))


def tf_steps(name, batch):
    """Keras 3 on TensorFlow: the compiled train_on_batch / predict_on_batch functions on tf tensors."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    model = keras_model(name)
    model.compile(optimizer=SPECS[name][1], loss=_keras_loss(name))
    x, y = _data(name, batch)
    xt, yt = tf.constant(x), tf.constant(y)
    return lambda: model.train_on_batch(xt, yt), lambda: model.predict_on_batch(xt), model.count_params()


STEPS = {"numbacnn": numbacnn_steps, "torch": torch_steps, "tf": tf_steps}


def _rate(step, batch, min_seconds, warmup_seconds):
    """(images/s, cores busy) in steady state: at least 3 warm-up steps and warmup_seconds discarded.

    Cores busy is the process's CPU time over the wall time of the timed steps (at most THREADS).
    """
    n, start = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - start < warmup_seconds:
        step()
        n += 1
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while True:
        step()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and n >= 3:
            return n * batch / elapsed, (time.process_time() - cpu) / elapsed


def _peak_kib():
    """This process's peak resident set in KiB (VmHWM: ru_maxrss would include the parent's peak)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def rate_worker(framework, name, batch, seconds, warmup_seconds):
    train, infer, params = STEPS[framework](name, batch)
    train_rate, train_cores = _rate(train, batch, seconds, warmup_seconds)
    infer_rate, infer_cores = _rate(infer, batch, seconds, warmup_seconds)
    return {"train": train_rate, "infer": infer_rate, "peak_kib": _peak_kib(), "params": params,
            "train_cores": train_cores, "infer_cores": infer_cores}


def start_worker(framework, row=START_ROW):
    """Seconds from the spawn (BENCH_SPAWN_TIME, set by the parent) to the imports and to the first step
    of ``row`` (model, batch)."""
    spawned = float(os.environ["BENCH_SPAWN_TIME"])
    for module in MODULES[framework]:
        importlib.import_module(module)
    imported = time.time() - spawned
    train, _, _ = STEPS[framework](*row)
    train()
    return {"imported": imported, "first_step": time.time() - spawned, "peak_kib": _peak_kib()}


# ----- orchestration ---------------------------------------------------------------------------------------
_VERSION_PROBE = """
import importlib.metadata as md, importlib.util as u, sys
if any(u.find_spec(m) is None for m in sys.argv[2].split(",")):
    sys.exit(1)
for dist in sys.argv[1].split(","):
    try:
        print(md.version(dist)); break
    except md.PackageNotFoundError:
        pass
else:
    print("?")
if sys.argv[2].endswith("keras"):
    print(md.version("keras"))
"""


def framework_version(python, framework):
    """The framework's version as installed for ``python``, or None where it does not import."""
    try:
        out = subprocess.run([python, "-c", _VERSION_PROBE, ",".join(DISTRIBUTIONS[framework]),
                              ",".join(MODULES[framework])], capture_output=True, text=True, timeout=120)
    except OSError:
        return None
    if out.returncode:
        return None
    lines = out.stdout.split()
    if framework == "tf":
        return f"Keras {lines[1]} on TensorFlow {lines[0]}"
    return f"{LABELS[framework]} {lines[0]}"


def _run_worker(python, args, env=None):
    env = dict(env or os.environ, OMP_NUM_THREADS=str(THREADS), NUMBA_NUM_THREADS=str(THREADS),
               TF_CPP_MIN_LOG_LEVEL="2", BENCH_SPAWN_TIME=repr(time.time()))
    out = subprocess.run([python, os.path.abspath(__file__), *args], env=env, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"measurement {' '.join(args)} failed ({python}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def ratios(ours, peers):
    """numbacnn / each peer (None where the peer is missing), and numbacnn / the faster peer."""
    each = {fw: (ours / rate if rate else None) for fw, rate in peers.items()}
    present = [rate for rate in peers.values() if rate]
    return each, (ours / max(present) if present else None)


def markdown_table(headers, rows):
    """A Markdown table, columns padded; the first left-aligned, the others right-aligned."""
    cells = [[str(c) for c in row] for row in [headers] + rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row):
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(row, widths))) + " |"

    rule = "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths))
    rule = f"|{rule}|"
    return "\n".join([line(cells[0]), rule] + [line(row) for row in cells[1:]])


def _num(value, fmt=",.0f"):
    return "–" if value is None else format(value, fmt)


def speed_table(results, rows, peers, key):
    headers = ["model", "batch", "numbacnn"] + [LABELS[p] for p in peers]
    headers += [f"/{LABELS[p]}" for p in peers] + (["/faster"] if len(peers) > 1 else [])
    table = []
    for name, batch in rows:
        got = {fw: results[(name, batch)].get(fw, {}).get(key) for fw in ("numbacnn",) + peers}
        each, faster = ratios(got["numbacnn"], {p: got[p] for p in peers})
        line = [name, batch] + [_num(got[fw]) for fw in ("numbacnn",) + peers]
        line += [_num(each[p], ".2f") for p in peers] + ([_num(faster, ".2f")] if len(peers) > 1 else [])
        table.append(line)
    return markdown_table(headers, table)


def memory_table(results, rows, peers):
    headers = ["model", "batch", "params"] + [LABELS[fw] for fw in ("numbacnn",) + peers]
    table = []
    for name, batch in rows:
        got = results[(name, batch)]
        table.append([name, batch, f"{got['numbacnn']['params']:,}"]
                     + [_num(got[fw]["peak_kib"] / 1024 if fw in got else None)
                        for fw in ("numbacnn",) + peers])
    return markdown_table(headers, table)


def measure_rows(rows, peers, interpreters, seconds, warmup, repeat):
    """{(model, batch): {framework: best-of-repeat results}}, progress on stderr."""
    results = {row: {} for row in rows}
    order = ("numbacnn",) + peers
    total, done = len(rows) * len(order) * repeat, 0
    for name, batch in rows:
        for r in range(repeat):
            for fw in order if r % 2 == 0 else order[::-1]:
                started = time.perf_counter()
                got = _run_worker(interpreters[fw], ["--worker", fw, "--rows", f"{name}:{batch}", "--seconds",
                                                     str(seconds), "--warmup", str(warmup)])
                best = results[(name, batch)].setdefault(fw, got)
                for key in ("train", "infer"):
                    if got[key] > best[key]:
                        best[key], best[f"{key}_cores"] = got[key], got[f"{key}_cores"]
                best["peak_kib"] = max(best["peak_kib"], got["peak_kib"])
                done += 1
                speeds = ", ".join(f"{k} {got[k]:,.0f} ({got[k + '_cores']:.2f})" for k in ("train", "infer"))
                print(f"[{done}/{total}] {name}:{batch} {fw}: images/s (cores busy) {speeds}; peak "
                      f"{got['peak_kib'] / 1024:,.0f} MiB; {time.perf_counter() - started:.1f} s",
                      file=sys.stderr, flush=True)
        params = {fw: got["params"] for fw, got in results[(name, batch)].items()}
        if len(set(params.values())) > 1:
            print(f"WARNING: {name} has different parameter counts: {params}", file=sys.stderr, flush=True)
    return results


def measure_start(peers, interpreters, repeat, models=(START_ROW[0],)):
    """Start-up rows per model (batch START_ROW[1]): numbacnn cold (a new empty Numba cache per model) and
    warm (best of ``repeat``), then each peer (best of ``repeat``)."""
    out = []
    for name in models:
        args = ["--worker", "numbacnn", "--start", "--rows", f"{name}:{START_ROW[1]}"]
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            out.append((f"{name}: numbacnn, cold (empty Numba cache)",
                        _run_worker(interpreters["numbacnn"], args, env)))
            warm = [_run_worker(interpreters["numbacnn"], args, env) for _ in range(repeat)]
            out.append((f"{name}: numbacnn, warm (cache filled)", min(warm, key=lambda g: g["first_step"])))
        for fw in peers:
            runs = [_run_worker(interpreters[fw], ["--worker", fw] + args[2:]) for _ in range(repeat)]
            out.append((f"{name}: {LABELS[fw]}", min(runs, key=lambda g: g["first_step"])))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="0.5 s a measurement after 0.2 s of warm-up, one round (default: 3 s, 1 s, 2)")
    parser.add_argument("--rows", nargs="*", help="rows as model:batch, e.g. cifar_cnn:32 (default: all)")
    parser.add_argument("--peers", nargs="*", choices=FRAMEWORKS[1:], default=list(FRAMEWORKS[1:]),
                        help="peers to compare with (default: torch tf, where installed); none: numbacnn")
    parser.add_argument("--tf-python", default=sys.executable,
                        help="Python interpreter that imports TensorFlow (default: this one)")
    parser.add_argument("--repeat", type=int, default=None, help="rounds per row, best kept (default 2)")
    parser.add_argument("--no-start", action="store_true", help="skip the start-up measurement")
    parser.add_argument("--start-only", action="store_true", help="only the start-up measurement")
    parser.add_argument("--start-models", nargs="*", metavar="MODEL",
                        help=f"models whose start-up is measured (default: {START_ROW[0]}; no names: all)")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--seconds", type=float, default=None, help="timed seconds per measurement")
    parser.add_argument("--warmup", type=float, default=None, help="warm-up seconds per measurement")
    parser.add_argument("--worker", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    parser.add_argument("--start", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        rows = [(r.split(":")[0], int(r.split(":")[1])) for r in args.rows] if args.rows else ROWS
    except (IndexError, ValueError):
        parser.error(f"rows are model:batch separated by spaces, e.g. cifar_cnn:32 lenet5:128; received "
                     f"{' '.join(args.rows)}")
    for name, batch in rows:
        if name not in SPECS or batch <= 0:
            parser.error(f"unknown row {name}:{batch}; models: {', '.join(SPECS)}")
    start_models = (list(SPECS) if args.start_models == [] else args.start_models or [START_ROW[0]])
    for name in start_models:
        if name not in SPECS:
            parser.error(f"unknown --start-models {name}; models: {', '.join(SPECS)}")
    seconds = args.seconds or (0.5 if args.quick else 3.0)
    warmup = args.warmup if args.warmup is not None else (0.2 if args.quick else 1.0)
    repeat = args.repeat or (1 if args.quick else 2)
    if args.worker:
        got = (start_worker(args.worker, rows[0] if args.rows else START_ROW) if args.start
               else rate_worker(args.worker, *rows[0], seconds, warmup))
        print(json.dumps(got))
        return

    interpreters = {"numbacnn": sys.executable, "torch": sys.executable, "tf": args.tf_python}
    versions = {fw: framework_version(interpreters[fw], fw) for fw in ("numbacnn",) + tuple(args.peers)}
    if versions["numbacnn"] is None:
        sys.exit("numbacnn does not import here: pip install -e .")
    for fw in args.peers:
        if versions[fw] is None:
            hint = ("pip install -e '.[bench]'" if fw == "torch"
                    else "pip install tensorflow-cpu==2.21.0, or --tf-python PATH to an interpreter with it")
            print(f"{LABELS[fw]} left out: it does not import in {interpreters[fw]} ({hint})", flush=True)
    peers = tuple(fw for fw in args.peers if versions[fw] is not None)
    print(f"{' vs '.join(versions[fw] for fw in ('numbacnn',) + peers)}: CPU, {THREADS} threads, "
          f"channels-last, random data, steady state ({seconds:g} s after {warmup:g} s of warm-up, best of "
          f"{repeat}), each measurement in a process of its own; ratio = numbacnn / peer\n", flush=True)

    if args.start_only:
        rows, results = [], {}
    else:
        results = measure_rows(rows, peers, interpreters, seconds, warmup, repeat)
        print("Training, images/s\n\n" + speed_table(results, rows, peers, "train"))
        print("\nInference, images/s\n\n" + speed_table(results, rows, peers, "infer"))
        print("\nPeak memory of the measurement process (training, then inference), MiB\n\n"
              + memory_table(results, rows, peers), flush=True)
    start = [] if args.no_start else measure_start(peers, interpreters, repeat, start_models)
    if start:
        print(f"\nStart-up (batch {START_ROW[1]}), seconds from the process's spawn; "
              f"warm and peers: best of {repeat}\n")
        print(markdown_table(["run", "imports done", "first training step done", "peak MiB"],
                             [[label, f"{g['imported']:.2f}", f"{g['first_step']:.2f}",
                               f"{g['peak_kib'] / 1024:,.0f}"] for label, g in start]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"versions": versions, "threads": THREADS, "seconds": seconds, "warmup": warmup,
                       "repeat": repeat, "peers": peers,
                       "rows": [{"model": n, "batch": b, **results[(n, b)]} for n, b in rows],
                       "start": [{"label": label, **g} for label, g in start]}, f, indent=1)


if __name__ == "__main__":
    main()
