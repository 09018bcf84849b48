"""The ``swift-sampler`` command line: the only module that prints and maps errors to exit codes.

Exit codes: 0 success, 2 bad configuration or input (one clear message; the traceback only
with ``--debug``), 1 internal error. Torch is imported inside the commands, so ``--help`` stays
fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence

from swift_sampler.errors import SwiftSamplerError

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swift-sampler",
        description="Learn per-instance sampling probabilities with 10 parameters "
        "(Swift Sampler, NeurIPS 2024).",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="torch threads (default: the number of cores, at most 2 here)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="uniform vs a loss/Er SwiftSampler on MNIST-5k with 40%% label noise",
        description="Trains a small CNN on MNIST-5k with symmetric label noise twice from one "
        "shared uniform warm-up: once uniformly, once under a SwiftSampler whose features are "
        "refreshed every epoch, and prints test Top-1 for both.",
    )
    demo.add_argument("--epochs", type=_positive_int, default=20, help="schedule length")
    demo.add_argument("--warmup", type=_positive_int, default=5, help="shared uniform epochs")
    demo.add_argument("--noise", type=_rate, default=0.4, help="symmetric label-noise rate")
    demo.add_argument("--seed", type=int, default=0)
    return parser


def _cmd_demo(args: argparse.Namespace) -> int:
    from swift_sampler.demo import DemoEpoch, run_sampler_demo
    from swift_sampler.errors import ConfigError

    if args.warmup >= args.epochs:
        raise ConfigError(
            f"--warmup ({args.warmup}) must be smaller than --epochs ({args.epochs})"
        )
    print(
        f"MNIST-5k, {args.noise:.0%} symmetric label noise, SmallCNN, seed {args.seed}: "
        f"{args.warmup} shared uniform epochs, then {args.epochs - args.warmup} epochs each arm"
    )
    print(
        f"{'arm':8s} {'epoch':>5s} {'sec':>5s} {'loss':>6s} {'val':>6s} {'test':>6s} "
        f"{'noisy P':>8s}"
    )

    def show(e: DemoEpoch) -> None:
        print(
            f"{e.arm:8s} {e.epoch:5d} {e.seconds:5.1f} {e.train_loss:6.3f} "
            f"{e.val_top1:6.1%} {e.test_top1:6.1%} {e.noisy_share:8.1%}",
            flush=True,
        )

    start = time.perf_counter()
    result = run_sampler_demo(
        total_epochs=args.epochs,
        warmup_epochs=args.warmup,
        noise_rate=args.noise,
        seed=args.seed,
        on_epoch=show,
    )
    print()
    print("test Top-1 (validation labels are as noisy as training labels)")
    print(f"{'sampler':10s} {'last epoch':>11s} {'at best val':>12s} {'noisy P':>8s}")
    for arm, label in (("uniform", "uniform"), ("swift", "SwiftSampler")):
        s = result.summary(arm)
        print(
            f"{label:10s} {s['last_test']:11.1%} {s['test_at_best_val']:12.1%} "
            f"{s['noisy_share']:8.1%}"
        )
    assert result.spec is not None
    print(
        f"\nSwiftSampler spec: hand-set theta {list(result.spec.theta)} ({result.spec.transform})"
    )
    print(f"total {time.perf_counter() - start:.0f} s")
    return EXIT_OK


def _configure(args: argparse.Namespace) -> None:
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    import torch

    threads = args.threads or min(os.cpu_count() or 1, 2)
    torch.set_num_threads(threads)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``swift-sampler`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {"demo": _cmd_demo}
    try:
        _configure(args)
        return commands[args.command](args)
    except (SwiftSamplerError, ValueError) as err:
        if args.debug:
            raise
        print(f"swift-sampler: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT if isinstance(err, SwiftSamplerError) else EXIT_INTERNAL
    except KeyboardInterrupt:
        print("swift-sampler: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # an internal error: say so, keep the traceback behind --debug
        if args.debug:
            raise
        print(
            f"swift-sampler: internal error: {type(err).__name__}: {err} "
            "(rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
