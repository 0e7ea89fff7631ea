"""Ray's wheel without its Java worker (ray/jars/), so it fits the 64 MiB one device call carries.

    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \\
        --platform manylinux2014_x86_64 ray==2.60.0 -d .whl/full
    python3 bench/slim_ray_wheel.py .whl/full/ray-2.60.0-*.whl .whl/slim/

The Python workers the sweep's Ray backend starts never load the jars. The wheel's RECORD loses
the dropped files' lines, so pip installs the rest as a normal wheel (bench/ray_h200.sh).
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

DROP = "ray/jars/"


def slim(wheel: Path, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / wheel.name
    if out.exists():
        raise SystemExit(f"{out} exists: remove it or choose another folder")
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if item.filename.startswith(DROP):
                continue
            data = src.read(item.filename)
            if item.filename.endswith(".dist-info/RECORD"):
                lines = data.decode().splitlines(keepends=True)
                data = "".join(ln for ln in lines if not ln.startswith(DROP)).encode()
            dst.writestr(item, data)
    return out


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit("usage: python3 bench/slim_ray_wheel.py RAY_WHEEL OUT_DIR")
    out = slim(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"{out}: {out.stat().st_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
