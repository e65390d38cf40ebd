"""Writes jaxshop/instances/fingerprints.json: the content fingerprint of every built-in
instance that has tabulated bounds (ta001-ta120, ta01-ta80, mk01-mk10, ft06/ft10/ft20,
la01-la40), so that `bounds.best_known_for(instance)` can recognise them by content.

Taillard instances are regenerated; the others are read from the packaged data folder
(never from --data-dir or $JAXSHOP_DATA). Rerun after changing the fingerprint encoding
(`bounds.FINGERPRINT_VERSION`) or the packaged files:

    python scripts/make_fingerprints.py            # rewrite the file
    python scripts/make_fingerprints.py --check    # exit 1 if the file is out of date
    python scripts/make_fingerprints.py -o out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jaxshop.instances import bounds, registry

DEFAULT_OUT = Path(bounds.__file__).resolve().parent / "fingerprints.json"

DEFINITION = (
    "SHA-256 of the canonical exact-size content of an instance: the version tag, the "
    "problem kind (pfsp/jssp/fjsp), then each array's name, shape and values as "
    "little-endian int32 (eligibility uint8), with padding and trailing unused machines "
    "removed; see jaxshop.instances.bounds.instance_fingerprint."
)


def fingerprints() -> dict[str, str]:
    """`{name: fingerprint}` of every built-in name with bounds, in built-in order."""
    out = {}
    for name in registry.builtin_names():
        if bounds.best_known(name) is None:
            continue
        instance = registry.load(name, data_dir=registry.packaged_data_dir())
        out[name] = bounds.instance_fingerprint(instance)
    return out


def render() -> str:
    """The text of fingerprints.json."""
    data = {
        "version": bounds.FINGERPRINT_VERSION,
        "definition": DEFINITION,
        "generated_by": "scripts/make_fingerprints.py",
        "instances": fingerprints(),
    }
    return json.dumps(data, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT, help="file to write")
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        same = args.out.is_file() and args.out.read_text() == text
        print(f"{args.out}: {'up to date' if same else 'OUT OF DATE'}")
        return 0 if same else 1
    args.out.write_text(text)
    count = len(json.loads(text)["instances"])
    print(f"wrote {count} fingerprints to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
