"""A SwiftTrainer run on a tiny BERT built from a config (no download), one process or several.

Run directly (``python _hf_job.py OUT``) or under ``torchrun --nproc_per_node=2``; each process
writes ``OUT/rank{r}.json``: per epoch, the dataset indices its training steps saw, the global
index stream the sampler drew, and the sampling probabilities after that epoch's refresh.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

N, LENGTH, BATCH, EPOCHS = 48, 8, 4, 3


class TokenDataset(Dataset[dict[str, torch.Tensor]]):
    """N sequences of 3 classes; tokens 0 and 1 spell the index, so a batch tells its indices."""

    def __init__(self, n: int = N, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.labels = torch.arange(n) % 3
        noise = torch.randint(20, 64, (n, LENGTH), generator=generator)
        noise[:, 0] = 10 + torch.arange(n) // 8
        noise[:, 1] = 10 + torch.arange(n) % 8
        noise[:, 2] = 1 + self.labels  # the class signal
        noise[::5, 2] = 1 + (self.labels[::5] + 1) % 3  # some wrong labels: a sampler matters
        self.input_ids = noise

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {
            "input_ids": self.input_ids[index],
            "attention_mask": torch.ones(LENGTH, dtype=torch.int64),
            "labels": self.labels[index],
        }


def decode(input_ids: torch.Tensor) -> list[int]:
    return ((input_ids[:, 0] - 10) * 8 + (input_ids[:, 1] - 10)).tolist()


def tiny_bert() -> Any:
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=64,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=LENGTH,
        num_labels=3,
    )
    return BertForSequenceClassification(config)


def spec(history: float = 0.0, draw: str = "iid") -> Any:
    from swift_sampler import SamplerSpec

    # Favour low loss strongly: the probabilities must move when the features do.
    return SamplerSpec(
        features=("loss", "er"),
        transform="cdf",
        theta=(1.0, 0.2, 0.2, 0.2, 0.2, 1.0, 0.5, 0.5, 0.5, 0.5),
        history=history,
        draw=draw,
    )


def main(
    out: Path,
    *,
    start_epoch: int = 0,
    history: float = 0.0,
    resume: bool = False,
    draw: str = "iid",
) -> None:
    """One train() (``resume``: saving every epoch, then a second train() of one more epoch
    resumed from the last checkpoint; ``draw``: the spec's); writes what rank r saw to
    ``out/rank{r}.json``."""
    from transformers import TrainerCallback, TrainingArguments

    from swift_sampler.integrations.transformers import SwiftTrainer

    record: dict[str, list[Any]] = {"seen": [], "stream": [], "probabilities": [], "loss": []}

    class Recording(SwiftTrainer):
        def training_step(self, model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
            record["seen"][-1].extend(decode(inputs["input_ids"]))
            loss = super().training_step(model, inputs, *args, **kwargs)
            record["loss"].append(float(loss))
            return loss

    class Streams(TrainerCallback):  # added after SwiftTrainer's own: runs after the refresh
        def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            sampler = trainer.swift_sampler
            assert sampler is not None
            record["seen"].append([])
            record["stream"].append(sampler.indices().tolist())
            record["probabilities"].append(sampler.probabilities.tolist())

    torch.manual_seed(0)
    args = TrainingArguments(
        output_dir=str(out / "hf"),
        per_device_train_batch_size=BATCH,
        per_device_eval_batch_size=16,
        num_train_epochs=EPOCHS,
        learning_rate=5e-3,
        ddp_find_unused_parameters=False,  # every BERT weight is used (no DDP warning)
        use_cpu=True,
        report_to="none",
        save_strategy="epoch" if resume else "no",
        logging_strategy="no",
        eval_strategy="no",
        disable_tqdm=True,
        seed=0,
    )
    trainer = Recording(
        model=tiny_bert(),
        args=args,
        train_dataset=TokenDataset(),
        sampler_spec=spec(history, draw),
        sampler_start_epoch=start_epoch,
    )
    trainer.add_callback(Streams())
    trainer.train()
    if resume:
        trainer.args.num_train_epochs = EPOCHS + 1
        trainer.train(resume_from_checkpoint=True)
    record["refreshes"] = [trainer.refreshes]
    record["world"] = [args.world_size, args.process_index]
    (out / f"rank{args.process_index}.json").write_text(json.dumps(record))
    from swift_sampler.distributed import leave

    leave(wait=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
    from swift_sampler.distributed import exit_process

    exit_process(0)  # as a script only: else a rank can abort at exit (gloo's threads)
