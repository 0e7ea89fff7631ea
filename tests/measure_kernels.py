"""The measure fixtures: kernel files that copy a torch conv3d through one small Triton kernel,
each right, wrong, dead, stuck or unsupported in one way. They share one ModelNew.

tests/fixtures/measure/copy_ok.py (the correct one) is the only copy of that text; the others are
made from it by a few line edits and written out as standalone KernelBench-format files, so the
real loader reads each from its own path (KernelBench execs a file's text: a file that imported
a helper module beside it would not load there, nor in a worker, which runs a cached copy of
the text). An edit whose line is gone from copy_ok.py fails loudly instead of making a fixture
that tests nothing.
"""

from __future__ import annotations

from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "fixtures" / "measure" / "copy_ok.py"

_LAUNCH = "scaled_copy_kernel[grid](ref, y, n, 1.0, BLOCK_SIZE=256)"
_GRID = 'grid = lambda META: (triton.cdiv(n, META["BLOCK_SIZE"]),)'
_NUMEL = "        n = ref.numel()\n"

# name: (docstring, [(line in copy_ok.py, its replacement), ...])
EDITS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "wrong_scale": (
        "A wrong kernel: every output is 10% too large.",
        [(_LAUNCH, _LAUNCH.replace("1.0", "1.1"))],
    ),
    "unwritten": (
        "A wrong kernel: its grid is one block short, so the last outputs are never written.",
        [
            (_GRID, 'grid = lambda META: (max(1, triton.cdiv(n, META["BLOCK_SIZE"]) - 1),)'),
            (_LAUNCH, _LAUNCH.replace("256", "16")),
        ],
    ),
    "oob": (
        "An out-of-bounds kernel: stores far past the output with no mask (an illegal address"
        " on a GPU).",
        [
            (
                "tl.store(dst_ptr + offs, tl.load(src_ptr + offs, mask=mask) * scale, mask=mask)",
                "tl.store(dst_ptr + offs * 1_000_000_007, tl.load(src_ptr + offs, mask=mask) * scale)",
            )
        ],
    ),
    "abort": (
        "A kernel file whose wrapper aborts the process on real tensors (like a fatal C++ error).",
        [
            ("import torch\n", "import os\n\nimport torch\n"),
            (_NUMEL, _NUMEL + '        if x.device.type != "meta":\n            os.abort()\n'),
        ],
    ),
    "hang": (
        "A kernel file whose wrapper never returns on real tensors, after starting a child\n"
        "process (its pid goes to $CONV3D_TEST_PID_FILE) that must be ended with it.",
        [
            (
                "import torch\n",
                "import os\nimport subprocess\nimport sys\nimport time\n\nimport torch\n",
            ),
            (
                _NUMEL,
                _NUMEL
                + '        if x.device.type != "meta":  # the dry capture on meta tensors must finish\n'
                '            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])\n'
                '            if os.environ.get("CONV3D_TEST_PID_FILE"):\n'
                '                with open(os.environ["CONV3D_TEST_PID_FILE"], "w") as f:\n'
                '                    f.write(f"{os.getpid()} {child.pid}")\n'
                "            while True:\n"
                "                time.sleep(0.1)\n",
            ),
        ],
    ),
    "user_assert": (
        'A kernel file that supports groups=1 only and says so with its own `assert ..., "..."`.',
        [
            (
                "        super().__init__()\n",
                "        super().__init__()\n"
                '        assert groups == 1, "copy_ok supports groups=1 only: use a problem with groups=1"\n',
            )
        ],
    ),
    "host_hang": (
        "A kernel file whose wrapper's host code never returns, even on meta tensors (the dry\n"
        "capture that inspect and export make runs it too).",
        [
            (
                _NUMEL,
                _NUMEL
                + "        while True:  # the host loop a time limit must end\n            pass\n",
            )
        ],
    ),
}
NAMES = ("copy_ok", *EDITS)


def kernel_text(name: str) -> str:
    """The text of measure fixture `name` (copy_ok.py with its edits)."""
    text = TEMPLATE.read_text(encoding="utf-8")
    if name == "copy_ok":
        return text
    doc, edits = EDITS[name]
    first, rest = text.split("\n", 1)
    assert first.startswith('"""'), f"{TEMPLATE} must open with a one-line docstring"
    text = f'"""{doc}"""\n{rest}'
    for old, new in edits:
        assert text.count(old) == 1, f"{name}: {old!r} is not once in {TEMPLATE}"
        text = text.replace(old, new)
    return text


def write_measure_kernels(folder: Path) -> dict[str, Path]:
    """Every measure fixture written into `folder` as NAME.py; copy_ok is the template itself."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {"copy_ok": TEMPLATE}
    for name in EDITS:
        path = folder / f"{name}.py"
        path.write_text(kernel_text(name), encoding="utf-8")
        out[name] = path
    return out
