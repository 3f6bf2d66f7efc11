"""A benchmark_model double that really runs the model: the host's ai_edge_litert interpreter
behind TFLite benchmark_model's flags, file formats and messages, for the loopback phone.

What it follows (tflite/tools/benchmark in google-ai-edge/LiteRT):
benchmark_tflite_model.cc
  * --input_layer=A,B --input_layer_shape=1,H,W,3:... (as many shapes as names), matched to the
    model's inputs by position (another name is only a warning); --input_layer_shape resizes;
  * --input_layer_value_files=NAME:FILE,... (a ':' inside NAME written '::'): FILE is the raw
    bytes of the whole tensor; a size other than the tensor's bytes is fatal ("The size of F is
    N bytes. It should be M bytes.");
  * --output_filepath=FILE: after the last run, the raw bytes of every output tensor in the
    subgraph's output order, one after the other (OutputSaver::OnBenchmarkEnd);
  * a model with several signatures needs --signature_to_run_for.
benchmark_model.cc: --warmup_runs / --warmup_min_secs, --num_runs / --min_secs; inputs are set
again before every run, so every run computes the same outputs.
GPU and NNAPI flags are accepted and run on the host interpreter (there is no GPU here): the
double stands for a delegate that computes what the CPU computes; MODE below makes one that
does not.

Tests write it to the phone with a shebang of this interpreter, and set MODE for the doubles
that break things: "swap" (two class channels of the output swapped: a delegate with wrong
numerics), "truncate" (the output file cut short), "missing" (no output file, exit 0), "die"
(the binary fails half-way: from input frame file DIE_AT on, it logs its INFO lines, then a
failed invoke's ERROR lines, as benchmark_model does, and exits 1 without an output file),
"perturb" (a delegate whose kernel for one op computes wrong: the op that produces the tensor
named PERTURB runs with its weights negated, so that tensor and everything computed from it
differ from the CPU's while every tensor before it is the CPU's; an op without a constant
weight input is refused), "shift" (a wrong write of one tensor: the output named PERTURB is
written shifted by three pixels along its width, nothing else changes).
"""

import sys
import time

import numpy as np

MODE = "ok"
SWAP = (0, 1)
PERTURB = ""  # MODE "perturb" / "shift": the name of the tensor computed / written wrong
DIE_AT = 2  # MODE "die": the first frame (the number in its input file's name, 000002.bin) that fails


def flags(argv):
    out = {}
    for a in argv:
        if a.startswith("--") and "=" in a:
            k, v = a[2:].split("=", 1)
            out[k] = v
    return out


def split_name_file(item):
    """SplitInputLayerNameAndValueFile: the one ':' not doubled separates name and file."""
    i, cut = 0, -1
    while i < len(item) - 1:
        if item[i] == ":":
            if item[i + 1] == ":":
                i += 2
                continue
            if cut != -1:
                raise SystemExit(f"ERROR: {item} contains more than one delimiter.")
            cut = i
        i += 1
    if cut == -1:
        raise SystemExit(f"ERROR: {item} doesn't contain any delimiter.")
    return item[:cut].replace("::", ":"), item[cut + 1 :].replace("::", ":")


def negated_weights(graph, name):
    """The model of ``graph`` with the weights of the op producing tensor ``name`` negated (the
    schema's object API, as LiteRT's own flatbuffer tools edit models)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(open(graph, "rb").read()), 0)
    sg = model.subgraphs[0]
    names = [t.name.decode() if isinstance(t.name, bytes) else t.name for t in sg.tensors]
    if name not in names:
        fatal(f"the double has no tensor named {name!r} to perturb")
    target = names.index(name)
    op = next(o for o in sg.operators if target in list(o.outputs))
    consts = [i for i in list(op.inputs)[1:] if i >= 0 and model.buffers[sg.tensors[i].buffer].data is not None]
    if not consts:
        fatal(f"the op producing {name!r} has no constant weights to perturb")
    w = sg.tensors[consts[0]]
    dtype = {0: np.float32, 9: np.int8, 3: np.uint8}[w.type]
    buf = model.buffers[w.buffer]
    values = np.frombuffer(np.asarray(buf.data, np.uint8).tobytes(), dtype)
    flipped = -values.astype(np.float64)
    if dtype is not np.float32:
        flipped = np.clip(flipped, np.iinfo(dtype).min, np.iinfo(dtype).max)
    buf.data = np.frombuffer(flipped.astype(dtype).tobytes(), np.uint8).copy()
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def fatal(msg):
    print(f"ERROR: {msg}", file=sys.stderr)
    sys.exit(134)  # TFLITE_LOG(FATAL) aborts


def main(argv):
    f = flags(argv)
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    t0 = time.perf_counter()
    kw = {"num_threads": int(f.get("num_threads", "1"))}
    if f.get("use_xnnpack") == "false":
        kw["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    if MODE == "perturb":
        interp = Interpreter(model_content=negated_weights(f["graph"], PERTURB), **kw)
    else:
        interp = Interpreter(model_path=f["graph"], **kw)
    sigs = list(interp.get_signature_list())
    sig = f.get("signature_to_run_for", "")
    if not sig and len(sigs) > 1:
        fatal('Signature not specified or incorrect. Pass one of the following to the flag "--signature_to_run_for"')
    if sig and sig not in sigs:
        fatal('Signature not specified or incorrect. Pass one of the following to the flag "--signature_to_run_for"')
    runner = interp.get_signature_runner(sig) if sig else None
    inputs = (
        list(runner.get_input_details().items()) if runner else [(d["name"], d) for d in interp.get_input_details()]
    )
    names = [n for n in f.get("input_layer", "").split(",") if n]
    shapes = [s for s in f.get("input_layer_shape", "").split(":") if s]
    if len(names) != len(shapes):
        fatal(
            f"The number of items in --input_layer_shape ({len(shapes)}) must match the number of items in "
            f"--input_layer ({len(names)})"
        )
    if names and len(names) != len(inputs):
        fatal(f"Inputs mismatch: Model inputs #:{len(names)} expected: {len(inputs)}")
    files = dict(split_name_file(v) for v in f.get("input_layer_value_files", "").split(",") if v)
    data = {}
    for j, name in enumerate(names):
        tname, d = inputs[j]
        if name != tname:
            print(f"WARN: Tensor # {d['index']} is named {tname} but flags call it {name}", file=sys.stderr)
        shape = [int(v) for v in shapes[j].split(",")]
        if len(shape) != len(d["shape"]):
            print(f"ERROR: Input tensor #{d['index']} should have {len(d['shape'])} dimensions!", file=sys.stderr)
            sys.exit(1)
        if shape != [int(v) for v in d["shape"]]:
            if runner is not None:
                fatal("resizing signature inputs is not modelled by this double")
            interp.resize_tensor_input(d["index"], shape)
        if name in files:
            dtype = np.dtype(d["dtype"])
            want = int(np.prod(shape)) * dtype.itemsize
            with open(files[name], "rb") as fh:
                raw = fh.read()
            if len(raw) != want:
                fatal(f"The size of {files[name]} is {len(raw)} bytes. It should be {want} bytes.")
            data[tname] = np.frombuffer(raw, dtype=dtype).reshape(shape)
    for name in files:
        if name not in names:
            fatal(f"Cannot find the corresponding input_layer name({name}) in --input_layer as {','.join(names)}")
    if runner is None:
        interp.allocate_tensors()
    rng = np.random.default_rng(0)
    for tname, d in inputs:  # inputs without a file: random, as benchmark_model does
        if tname not in data:
            info = np.iinfo(d["dtype"]) if np.issubdtype(d["dtype"], np.integer) else None
            data[tname] = (
                rng.integers(info.min, info.max, d["shape"]).astype(d["dtype"])
                if info
                else rng.random(d["shape"], dtype=np.float32).astype(d["dtype"])
            )
    init_us = (time.perf_counter() - t0) * 1e6

    def run():
        if runner is not None:
            res = runner(**data)
            return [res[k] for k in runner.get_output_details()]
        for tname, d in inputs:
            interp.set_tensor(d["index"], data[tname])
        interp.invoke()
        return [interp.get_tensor(d["index"]) for d in interp.get_output_details()]

    times = []
    for phase, runs in (("warmup", int(f.get("warmup_runs", "1"))), ("regular", max(1, int(f.get("num_runs", "50"))))):
        for _ in range(runs):
            t = time.perf_counter()
            outs = run()
            times.append((phase, (time.perf_counter() - t) * 1e6))
    if MODE == "die" and any(int(v.rsplit("/", 1)[-1].split(".")[0]) >= DIE_AT for v in files.values()):
        print(f"INFO: Graph: [{f['graph']}]")  # benchmark_tflite_model.cc's log, then the failed Invoke
        print(f"INFO: Loaded model {f['graph']}")
        print("INFO: The input model file size (MB): 0.01")
        print("INFO: Initialized session in 1.2ms.")
        print("ERROR: Node number 3 (CONV_2D) failed to invoke.", file=sys.stderr)
        print("ERROR: Benchmarking failed.", file=sys.stderr)
        return 1
    if f.get("use_gpu") == "true":
        print("INFO: Created TensorFlow Lite delegate for GPU.")
    reg = [t for p, t in times if p == "regular"]
    warm = [t for p, t in times if p == "warmup"] or [0.0]
    print(
        f"count={len(reg)} first={reg[0]:.0f} curr={reg[-1]:.0f} min={min(reg):.0f} max={max(reg):.0f} "
        f"avg={np.mean(reg):.1f} std={np.std(reg):.0f}"
    )
    print(
        f"Inference timings in us: Init: {init_us:.0f}, First inference: {times[0][1]:.0f}, Warmup (avg): "
        f"{np.mean(warm):.1f}, Inference (avg): {np.mean(reg):.1f}"
    )
    path = f.get("output_filepath")
    if path and MODE != "missing":
        blobs = []
        names = (
            list(runner.get_output_details())
            if runner is not None
            else [d["name"] for d in interp.get_output_details()]
        )
        if MODE == "shift" and PERTURB not in names:
            fatal(f"the double has no output named {PERTURB!r} to shift")
        for name, y in zip(names, outs):
            y = np.ascontiguousarray(y)
            if MODE == "shift" and name == PERTURB:
                y = np.ascontiguousarray(np.roll(y, 3, axis=-2))
            if MODE == "swap" and y.ndim == 4:
                y = y.copy()
                y[..., list(SWAP)] = y[..., list(SWAP[::-1])]
            blobs.append(y.tobytes())
        raw = b"".join(blobs)
        with open(path, "wb") as fh:
            fh.write(raw[: len(raw) // 2] if MODE == "truncate" else raw)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
