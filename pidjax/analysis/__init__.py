"""From embeddings to PID tables: layer sweeps, intervals, baselines, contributions, profiles.

Table schema
------------
Every table is a :class:`PIDTable`, a ``dict[str, np.ndarray]`` of equal-length columns (one
row per layer and label set, layer-major) with a ``meta`` dict (settings, per-stage
``timings`` in seconds, warnings) and a :meth:`PIDTable.to_dataframe` helper (pandas imported
only there; also :func:`to_dataframe`). All information values are in bits.

=====================  ======  ===================================================================
column                 dtype   meaning
=====================  ======  ===================================================================
layer                  str     layer name (the key of the ``embeddings`` mapping)
label_set              str     label-set name (``"labels"`` when one array was given)
redundancy             float   R, bias-corrected (``bias=``, see :mod:`~pidjax.analysis.estimation`)
unique_1, unique_2     float   U1, U2, bias-corrected
synergy                float   S, bias-corrected
mutual_info_1          float   I(X1; Y) = R + U1, bias-corrected (the identities hold exactly)
mutual_info_2          float   I(X2; Y) = R + U2
mutual_info_joint      float   I(X1, X2; Y) = R + U1 + U2 + S
<term>_plugin          float   the plug-in value of each of the seven terms (the kernel's)
bound                  float   certified error bound of each plug-in term (kernel)
converged              bool    every table of the row reached its tolerance
n_samples              int     N, examples behind the estimate
states_1, states_2     int     occupied states of each modality
n_labels               int     occupied labels
label_entropy          float   H(Y), the largest value any term can take
<term>_lo, <term>_hi   float   bootstrap interval of the corrected term (``n_bootstrap > 0``)
<term>_perm            float   mean plug-in term under label permutation (``n_permutations > 0``)
<term>_perm_hi         float   ``confidence`` quantile under label permutation
<term>_p               float   permutation p-value of the plug-in term (``n_permutations > 0``)
probe_info_1, _2,      float   what a cross-validated linear probe decodes from the embeddings
probe_info_joint               (``check_discretization``), bits
states_lose_information bool   the states carry much less than the probe decodes
contribution_1, _2     float   unique share U_i / I(X1, X2; Y) (:func:`contribution_scores`)
contribution_1_significant,
contribution_2_significant  bool  U_i distinguishable from 0 (p-value below ``alpha``, or the
                               interval above 0)
redundancy_share       float   R / I(X1, X2; Y); ``synergy_share`` likewise
accuracy               float   model accuracy, when a model or an ablation is given
ablation_drop_1, _2    float   accuracy lost when modality i is ablated (NaN on layers not ablated)
rankings_agree         bool    PID shares and ablation drops favour the same modality
ablation_kind          str     which ablation: "input-level", "per-layer predict", "layer-wise
                               mean, Flax", "stored predictions" ("" where none); also
                               ``meta["ablation"]``
=====================  ======  ===================================================================

Sample-level tables (:func:`sample_profiles`) have ``example`` and ``n_pairs`` in place of
``layer``, ``label_set`` and ``n_samples``.
"""

from pidjax.analysis.bootstrap import bootstrap_weights, interval, permuted_labels
from pidjax.analysis.estimation import BIAS_CORRECTIONS, corrected_interval, derive_atoms
from pidjax.analysis.contributions import (
    AblationScores,
    ablation_drop,
    ablation_from_predictions,
    contribution_scores,
    dataset_contributions,
)
from pidjax.analysis.labels import (
    encode_labels,
    labels_from_embedding,
    labels_from_ground_truth,
    labels_from_predictions,
)
from pidjax.analysis.multimodal import multimodal_codes, multimodal_sweep
from pidjax.analysis.profiles import sample_profiles, token_pairs
from pidjax.analysis.sweep import PIDTable, layer_sweep, sweep_codes, to_dataframe

__all__ = [
    "AblationScores",
    "BIAS_CORRECTIONS",
    "PIDTable",
    "ablation_drop",
    "ablation_from_predictions",
    "bootstrap_weights",
    "contribution_scores",
    "corrected_interval",
    "dataset_contributions",
    "derive_atoms",
    "encode_labels",
    "interval",
    "labels_from_embedding",
    "labels_from_ground_truth",
    "labels_from_predictions",
    "layer_sweep",
    "multimodal_codes",
    "multimodal_sweep",
    "permuted_labels",
    "sample_profiles",
    "token_pairs",
    "sweep_codes",
    "to_dataframe",
]
