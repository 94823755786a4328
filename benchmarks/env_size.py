"""How big an environment is: resolve a package list with pip (dry run, as on an empty machine)
and add up what it would download and, where this machine can tell, what it occupies installed.

    python benchmarks/env_size.py binder               # environment.yml's pip list (CPU torch)
    python benchmarks/env_size.py readme               # README's `pip install -e ".[book]"`
    python benchmarks/env_size.py -- -r FILE ...       # any pip arguments

Download sizes: a wheel on local disk is measured there, one on an index by its Content-Length.
Installed sizes: the files of the same version installed on this machine (their RECORD), else
the uncompressed contents of a local wheel; packages known neither way are counted at their
download size and named. One JSON line per package group, then a total.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from posebook import book, launch  # noqa: E402


def report(pip_args: list[str]) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                        "--retries", "0", "--quiet", "--report", str(out), *pip_args], check=True)
        return json.loads(out.read_text())["install"]


def download_bytes(url: str) -> int:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
        return path.stat().st_size if path.is_file() else 0     # a local folder: the package itself
    with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=60) as reply:
        return int(reply.headers.get("Content-Length", 0))


def installed_bytes(name: str, version: str, url: str) -> int | None:
    try:
        dist = importlib.metadata.distribution(name)
        if dist.version == version and dist.files:
            return sum(f.locate().stat().st_size for f in dist.files if f.locate().is_file())
    except importlib.metadata.PackageNotFoundError:
        pass
    parsed = urlparse(url)
    if parsed.scheme == "file" and unquote(parsed.path).endswith(".whl"):
        with zipfile.ZipFile(unquote(parsed.path)) as wheel:
            return sum(info.file_size for info in wheel.infolist())
    return None


def group(name: str) -> str:
    if name.startswith("nvidia-"):
        return "nvidia-*"
    return name if name in ("torch", "torchvision", "triton") else "other"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=("binder", "readme", "--"), help="the package list")
    parser.add_argument("pip_args", nargs="*", help="pip arguments (with --)")
    args = parser.parse_args()
    root = book.repo()
    if args.which == "binder":
        listing = Path(tempfile.mkdtemp()) / "binder.txt"
        listing.write_text("\n".join(launch.binder_environment(root).requirements) + "\n")
        pip_args = ["-r", str(listing)]
    elif args.which == "readme":
        pip_args = ["-e", f"{root}[book]"]
    else:
        pip_args = args.pip_args
    totals: dict[str, dict] = {}
    for item in report(pip_args):
        name, version = item["metadata"]["name"].lower(), item["metadata"]["version"]
        url = item["download_info"]["url"]
        size = installed_bytes(name, version, url)
        entry = totals.setdefault(group(name), {"packages": 0, "download_mb": 0.0,
                                                "installed_mb": 0.0, "installed_unknown": []})
        entry["packages"] += 1
        download = download_bytes(url)
        entry["download_mb"] += download / 1e6
        entry["installed_mb"] += (size if size is not None else download) / 1e6
        if size is None:
            entry["installed_unknown"].append(f"{name}=={version}")
        if name in ("torch", "torchvision", "triton"):
            entry["version"] = version
    for name, entry in sorted(totals.items()):
        print(json.dumps({"group": name, **{k: round(v, 1) if isinstance(v, float) else v
                                            for k, v in entry.items()}}))
    print(json.dumps({"group": "total", "list": args.which, "python": sys.version.split()[0],
                      "packages": sum(e["packages"] for e in totals.values()),
                      "download_mb": round(sum(e["download_mb"] for e in totals.values()), 1),
                      "installed_mb": round(sum(e["installed_mb"] for e in totals.values()), 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
