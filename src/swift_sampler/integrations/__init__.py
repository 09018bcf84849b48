"""Swift Sampler inside other frameworks' training loops.

- ``swift_sampler.integrations.transformers``: ``SwiftTrainer``, a Hugging Face ``Trainer``
  that draws its batches with ``SwiftSampler`` and refreshes the features every epoch, and
  ``HFTrainerAdapter``, the search's ``Trainer`` protocol around a Hugging Face model scored by
  its evaluation metric (extra ``[transformers]``).
- ``swift_sampler.integrations.lightning``: ``SwiftSamplerCallback``, a Lightning callback that
  refreshes the features and sets the epoch (extra ``[lightning]``).

Nothing is imported here: each module imports its framework when it is itself imported, so the
core never needs them installed.
"""
