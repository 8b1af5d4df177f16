"""Hugging Face ``transformers`` folders and classes, read statically.

* ``source``: the transformers source of the current environment, located on ``sys.path`` without importing
  it, its version, and a Hub folder's ``config.json`` resolved to the class that ``from_pretrained`` builds;
* ``conversion``: transformers 5's key renamings between stored and in-memory names, read from
  ``conversion_mapping.py`` as text;
* ``loading``: what ``PreTrainedModel.from_pretrained`` does with a checkpoint's keys (renames, base-model
  prefix, tied weights, ignore lists), beside torch's strict ``load_state_dict``.

Nothing here imports transformers or torch. What the predictor knows about transformers' runtime
(``PreTrainedModel``, configuration classes, ``ACT2FN``) is the library model in ``predict/libs``.
"""
