"""What `pidjax.adapters.torch.extract_torch` costs beyond the model's own forward passes.

Side by side in one process, on the tiny offline models of ``tests/torch_tiny.py`` (CPU, one
torch thread): a bare loop of ``model(**batch, output_hidden_states=True)`` over the same
batches, and ``extract_torch`` pooling every layer per modality in memory, and streaming to a
folder. Prints medians over ``--rounds`` and the ratio to the bare loop.

    python -m benchmarks.torch_extract --rows 256 --batch 32 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def _median_seconds(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--families", default="clip,vilt,llava,idefics3,paligemma")
    args = parser.parse_args(argv)

    import torch
    from transformers.utils import logging as hf_logging

    from pidjax.adapters._hf_checkpoint import load_checkpoint, row_batches
    from pidjax.adapters._rows import Rows
    from pidjax.adapters.torch import extract_torch, layout_for, special_token_ids
    from tests import torch_tiny

    hf_logging.disable_progress_bar()
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="pidjax-bench-"))
    images = []
    for i in range(8):
        images.append(root / f"{i}.png")
        torch_tiny.make_image(i / 8, seed=i).save(images[-1])
    rows = Rows([f"a photo of a {'cat' if i % 2 else 'dog'}" for i in range(args.rows)],
                [images[i % 8] for i in range(args.rows)], {}, root / "rows.csv")
    print(f"{'model':<10} {'forward s':>10} {'extract s':>10} {'ratio':>6} {'streamed s':>11} {'ratio':>6}")
    for family in args.families.split(","):
        model, processor = load_checkpoint(getattr(torch_tiny, f"build_{family}")(root / family))
        layout = layout_for(family)
        batches = list(row_batches(processor, rows, layout, model, batch_size=args.batch))
        special = special_token_ids(processor)

        def forward():
            with torch.no_grad():
                for batch in batches:
                    model(**batch, output_hidden_states=True)

        def extract():
            extract_torch(model, batches, layout, special_ids=special, progress=False)

        def streamed():
            with tempfile.TemporaryDirectory() as out:
                extract_torch(model, batches, layout, special_ids=special, progress=False, out_dir=Path(out) / "e")

        forward()  # warm up
        bare, ours, disk = (_median_seconds(f, args.rounds) for f in (forward, extract, streamed))
        print(f"{family:<10} {bare:10.3f} {ours:10.3f} {ours / bare:6.2f} {disk:11.3f} {disk / bare:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
