"""The search: inner-loop objective, outer loops, run directory and resume.

``run_search(config, run_dir)`` is the entry point (see ``search.driver``); ``InnerLoop`` scores
one sampler spec by fine-tuning the shared start (``search.objective``); ``make_outer_loop``
builds the proposal rule (Optuna GP/TPE/CMA-ES/QMC/random, or REINFORCE in ``search.rl``);
``final_training`` trains a found sampler from scratch beside uniform (``search.final``).
Trial records and the result live in ``search.study``, pruners in ``search.pruning``, parallel
workers in ``search.workers`` and ``search.cluster``.
"""
