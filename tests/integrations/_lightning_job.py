"""A Lightning fit under SwiftSamplerCallback, in this process or under torchrun (ddp, gloo).

``python _lightning_job.py OUT`` fits in one process; ``python -m torch.distributed.run
--nproc_per_node=2 _lightning_job.py OUT`` fits with ``strategy="ddp"`` on the two processes,
then tries a second fit that keeps ``use_distributed_sampler=True``. Each process writes
``OUT/rank{r}.json``: per epoch, the indices its training steps saw, its stripe, the global draw
(recomputed from the sampler's probabilities with one replica) and the probabilities; and
``OUT/error{r}.txt``, the callback's error for the second fit.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, TensorDataset

N, BATCH, EPOCHS = 60, 6, 3


def dataset(n: int = N) -> TensorDataset:
    """Column 0 of x is the item's index (the model ignores it), so a batch tells its indices."""
    generator = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 3
    x = torch.randn(n, 9, generator=generator)
    x[:, 1:4] += 2.0 * torch.nn.functional.one_hot(y, 3)
    x[:, 0] = torch.arange(n, dtype=torch.float32)
    y[::4] = (y[::4] + 1) % 3  # wrong labels: the sampler has something to do
    return TensorDataset(x, y)


def quiet_lightning() -> None:
    """Silences the warnings Lightning raises about this set-up, not about the callback."""
    # A performance hint (use more DataLoader workers), moot for in-memory items.
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    # On a machine with a GPU: the job trains on the CPU on purpose (gloo, as in CI).
    warnings.filterwarnings("ignore", message=r"GPU available but not used")
    # Lightning 2.6's own CombinedLoader calls torch's deprecated LeafSpec (not our code; the
    # filter names the module that triggers it, so the same warning from elsewhere still fails).
    warnings.filterwarnings(
        "ignore",
        message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        category=FutureWarning,
        module=r"lightning\.pytorch\.utilities\._pytree",
    )


def fit(
    devices: int,
    *,
    keep_distributed_sampler: bool = False,
    start_epoch: int = 0,
    epochs: int = EPOCHS,
    workers: int = 0,
    ckpt_path: Path | None = None,
    save: Path | None = None,
    restore_after_setup: bool = False,
    again: bool = False,
    history: float = 0.0,
    checkpoints: Path | None = None,
    every_n_train_steps: int | None = None,
    draw: str = "iid",
) -> dict[str, Any]:
    """One fit of ``epochs`` epochs (resumed from ``ckpt_path``, saved to ``save`` after it,
    ``workers`` DataLoader workers); returns what the process saw (see the module
    docstring). ``restore_after_setup``: a one-device strategy that loads the checkpoint after
    ``on_fit_start``, as FSDP and DeepSpeed do. ``again``: then a second fit from scratch with
    the same callback and loader, a new module and trainer; ``record["again"]`` is its
    record. ``history``, ``draw``: the spec's feature history and draw. ``checkpoints``: a
    ``ModelCheckpoint`` saves every epoch's end there during the fit (``every_n_train_steps``:
    every so many steps instead, mid-epoch too)."""
    import lightning.pytorch as pl
    from lightning.pytorch.strategies import SingleDeviceStrategy

    from swift_sampler import SamplerSpec, SwiftSampler
    from swift_sampler.integrations.lightning import SwiftSamplerCallback

    records: list[dict[str, Any]] = []

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Linear(8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x[:, 1:])

        def training_step(self, batch: Any, batch_index: int) -> torch.Tensor:
            x, y = batch
            records[-1]["seen"][-1].extend(x[:, 0].long().tolist())
            return torch.nn.functional.cross_entropy(self(x), y)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.5)

    class Streams(pl.Callback):  # after SwiftSamplerCallback: sees the refreshed sampler
        def on_train_start(self, trainer: Any, module: Any) -> None:
            # A fit resumed mid-epoch trains the rest of that epoch without calling
            # on_train_epoch_start for it: record its sampler here.
            if trainer.fit_loop.restarted_mid_epoch:
                self.on_train_epoch_start(trainer, module)

        def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
            sampler = swift.sampler
            one = SwiftSampler(
                sampler.probabilities,
                replacement=sampler.replacement,
                stratified=sampler.replacement and sampler.stratified,
                seed=0,
                num_replicas=1,
                rank=0,
            )
            one.set_epoch(trainer.current_epoch)
            record = records[-1]
            record["seen"].append([])
            record["stripe"].append(sampler.indices().tolist())
            record["stream"].append(one.indices().tolist())
            record["probabilities"].append(sampler.probabilities.tolist())

    class RestoreAfterSetup(SingleDeviceStrategy):
        @property
        def restore_checkpoint_after_setup(self) -> bool:
            return True

    theta = (1.0, 0.2, 0.2, 0.2, 0.2, 1.0, 0.5, 0.5, 0.5, 0.5)
    spec = SamplerSpec(transform="cdf", theta=theta, history=history, draw=draw)
    train = dataset()
    swift = SwiftSamplerCallback(spec, train, batch_size=16, start_epoch=start_epoch)
    loader = DataLoader(train, batch_size=BATCH, sampler=swift.sampler, num_workers=workers)
    for ckpt in [ckpt_path, None][: 2 if again else 1]:
        strategy: Any = "ddp" if devices > 1 else "auto"
        if restore_after_setup:
            strategy = RestoreAfterSetup(device=torch.device("cpu"))
        records.append({"seen": [], "stripe": [], "stream": [], "probabilities": []})
        torch.manual_seed(0)
        saving: list[Any] = []
        if checkpoints is not None:
            from lightning.pytorch.callbacks import ModelCheckpoint

            every = {"every_n_train_steps": every_n_train_steps} if every_n_train_steps else {}
            saving = [
                ModelCheckpoint(
                    dirpath=checkpoints, filename="{epoch}-{step}", save_top_k=-1, **every
                )
            ]
        trainer = pl.Trainer(
            accelerator="cpu",
            devices=devices,
            strategy=strategy,
            max_epochs=epochs,
            callbacks=[swift, Streams(), *saving],
            use_distributed_sampler=keep_distributed_sampler,
            logger=False,
            enable_checkpointing=bool(saving),
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        trainer.fit(Module(), loader, ckpt_path=ckpt)
        if save is not None and ckpt is ckpt_path:
            trainer.save_checkpoint(save)
        records[-1]["refreshes"] = swift.refreshes
        records[-1]["world"] = [trainer.world_size, trainer.global_rank]
    if again:
        records[0]["again"] = records[1]
    return records[0]


def main(out: Path) -> None:
    from swift_sampler.errors import ConfigError

    quiet_lightning()
    devices = int(os.environ.get("WORLD_SIZE", "1"))
    record = fit(devices)
    rank = record["world"][1]
    (out / f"rank{rank}.json").write_text(json.dumps(record))
    if devices > 1:
        try:
            fit(devices, keep_distributed_sampler=True)
        except ConfigError as err:
            (out / f"error{rank}.txt").write_text(str(err))
    from swift_sampler.distributed import leave

    leave(wait=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
    from swift_sampler.distributed import exit_process

    exit_process(0)  # as a script only: else a rank can abort at exit (gloo's threads)
