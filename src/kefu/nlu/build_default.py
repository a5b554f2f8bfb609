"""Rebuild the shipped default model from kefu's own examples.

    python -m kefu.nlu.build_default

Run it after editing `kefu/nlu/data/examples/*.yaml`; a unit test fails while the shipped
model does not match the examples (and a server would retrain at start, 15-80 s).
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from kefu.nlu.embedder import UseEmbedder
from kefu.nlu.examples import default_examples
from kefu.nlu.training import train


def main() -> int:
    target = Path(str(resources.files("kefu.nlu").joinpath("data/default_model.npz")))
    report = train(default_examples(), embedder=UseEmbedder(), source="kefu default examples")
    report.model.save(target)
    held = ", ".join(f"{k}={v:.3f}" for k, v in sorted(report.heldout.items()))
    print(
        f"{target}: {report.examples} examples, {report.intents} intents, "
        f"{report.seconds:.1f}s; held-out split: {held}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
