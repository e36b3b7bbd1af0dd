"""The paper's claims as data: one registry, one id per claim, one chapter that measures it.

Each chapter measures its claims and hands `judge` whether the claim's statistical rule (from
`diva_lib.verdicts`) holds on its numbers; `judge` turns that into one of three verdicts. A
claim is "not testable here" only for a reason fixed in advance: a model it rests on is below
its quality floor (`diva_lib.floors`), or the registry names a property of the stand-in data
that the claim depends on. A claim that fails is "does not hold", never "not testable".
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from diva_lib.floors import FLOORS, ModelsTable
from diva_lib.verdicts import FAILS, HOLDS, UNTESTABLE, Estimate

STAND_IN = {
    "classes": "the stand-in has 10 classes, ImageNet 1,000: a share of 10-class errors is not comparable with "
               "ImageNet's, and 'outside the original's top 5' means among its 5 least likely classes",
    "resolution": "the stand-in's images are 32×32 grey digits or clothes zero-padded from 28×28, not 224×224 "
                  "photographs: dssim's absolute value depends on resolution and content (3 of its 5 scales exist)",
}
"""Properties of the `smoke` / `default` stand-in data that a claim may depend on."""


@dataclass(frozen=True)
class PaperClaim:
    """One claim of the paper: where, its words, its numbers, the chapter that measures it."""

    id: str
    section: str
    chapter: str
    quote: str
    paper: str
    rule: str
    band: tuple[float, float] | None = None  # the paper's number or range on the forest plot's scale
    stand_in: str | None = None  # a STAND_IN key: not testable on stand-in data


_C = PaperClaim
REGISTRY: dict[str, PaperClaim] = {c.id: c for c in (
    _C("table1.flip_ratio", "§2.2, Table 1", "table1",
       "the instability is several times the change in top-1 accuracy", "3.2–4.2× ((1510 + 925) / (1510 − 925) "
       "for ResNet50)", "the 95 % bootstrap interval of (flips) / |net change| reaches 3.2 on every architecture",
       (3.2, 4.2)),
    _C("table1.instability_level", "§2.2, Table 1", "table1",
       "instability of 6.3–8.1 % between the original and its int8 model", "6.3–8.1 %",
       "the 95 % interval of the instability meets 6.3–8.1 % on every architecture", (0.063, 0.081), "classes"),
    _C("quantization.whitebox_beats_pgd", "§5.2, Fig 6a", "quantization",
       "whitebox DIVA 92.3–97 % top-1 success, PGD 30.2–50.9 %", "92.3–97.0 % vs 30.2–50.9 %",
       "the 95 % interval of DIVA − PGD (deployed int8) lies above 0 on every architecture"),
    _C("quantization.whitebox_level", "§5.2, Fig 6a", "quantization",
       "the whitebox attack succeeds on 92.3–97 % of the images", "92.3–97.0 %",
       "the 95 % interval of whitebox DIVA's top-1 success reaches 92.3 % on every architecture", (0.923, 0.970)),
    _C("quantization.from_step_one", "§5.2, Fig 6d", "quantization",
       "DIVA outperforms PGD starting from step 1", "from step 1 (PGD plateaus at 40.8 %, DIVA 96.9 %)",
       "after step 1 the 95 % interval of DIVA − PGD (QAT pair) lies above 0 on every architecture"),
    _C("quantization.whitebox_top5", "§5.2, Fig 6b", "quantization",
       "whitebox DIVA has a 2.6–4.2× higher top-5 success rate than PGD", "2.6–4.2×",
       "the 95 % interval of DIVA − PGD top-5 success lies above 0 on every architecture", None, "classes"),
    _C("quantization.semiblackbox_beats_pgd", "§5.2, Fig 6a", "quantization",
       "semi-blackbox DIVA (71.1–96.2 %) outperforms PGD across all the experiments", "71.1–96.2 %, above PGD",
       "the 95 % interval of DIVA − PGD lies above 0 on every architecture attacked"),
    _C("quantization.blackbox_beats_pgd", "§5.2, Fig 6a", "quantization",
       "blackbox DIVA's top-1 success (30.3–77.2 %) is higher than PGD's", "30.3–77.2 %, above PGD",
       "the 95 % interval of DIVA − PGD lies above 0 on every architecture attacked"),
    _C("quantization.knowledge_order", "§5.2", "quantization",
       "semi-blackbox is less successful than whitebox, blackbox less than semi-blackbox",
       "92.3–97 → 71.1–96.2 → 30.3–77.2 %",
       "whitebox significantly above blackbox, and neither later step significantly above the one before it"),
    _C("quantization.confidence_order", "§5.2, Fig 6c", "quantization",
       "confidence delta: natural images 7.9 %, PGD 18.6–25 %, DIVA 56.6–72.4 %", "natural < PGD < DIVA",
       "the 95 % intervals of PGD − natural and DIVA − PGD (paired per image) lie above 0 on every architecture"),
    _C("quantization.evasion_cost", "§5.2, Table 2", "quantization",
       "PGD fools the adapted model on 98.4–98.7 %, DIVA on 95.1–97.0 %: a small evasion cost",
       "1.4–3.6 points", "the 95 % interval of PGD − DIVA evasion reaches 3.6 points or less on every architecture",
       (0.014, 0.036)),
    _C("quantization.dssim", "§5.2", "quantization",
       "all adversarial images have a DSSIM below 0.0092 (imperceptible)", "< 0.0092",
       "the largest DSSIM lies below 0.0092", (0.0, 0.0092), "resolution"),
    _C("quantization.c_default", "§5.3, Fig 7", "quantization",
       "c = 1 provides the highest average top-1 success across the three architectures", "c = 1",
       "no other c's top-1 success is significantly above c = 1's on any architecture"),
    _C("quantization.c_evasion", "§5.3", "quantization",
       "c = 10 raises the success of attacking the adapted model alone over c = 1", "97.6–98 % at c = 10",
       "the 95 % interval of evasion(c = 10) − evasion(c = 1) lies above 0 on every architecture"),
    _C("quantization.baselines", "§5.4", "quantization",
       "Momentum PGD (39.4 %) and CW-L∞ (25.5 %) do no better than PGD (40.6 %)", "39.4 %, 25.5 % vs 40.6 %",
       "neither baseline's top-1 success is significantly above PGD's on any architecture"),
    _C("mnist.representation_shift", "§4.2, Fig 4", "mnist_pca",
       "DIVA moves the adapted model's features of attacked zeros toward another class, not the original's",
       "shown in Fig 4 (no number)",
       "the 95 % interval of (adapted − original) share of attacked zeros whose nearest centroid changed lies above 0"),
    _C("pruning.whitebox_level", "§5.6, Fig 8", "pruning",
       "DIVA achieves a success rate of 97.8 % or higher in all cases", "≥ 97.8 %",
       "the 95 % interval of DIVA's top-1 success reaches 97.8 % on every pruned model", (0.978, 1.0)),
    _C("pruning.beats_pgd", "§5.6, Fig 8", "pruning",
       "DIVA always performs better than PGD on pruned models", "always above",
       "the 95 % interval of DIVA − PGD lies above 0 on every pruned model"),
    _C("pruning.confidence_gain", "§5.6", "pruning",
       "DIVA increases the confidence delta by 8.3–16 % more than PGD", "8.3–16 points",
       "the 95 % interval of DIVA − PGD confidence delta (paired) meets 8.3–16 points on every pruned model",
       (0.083, 0.16)),
    _C("pruning.less_stable_than_int8", "§5.6 vs Table 1", "pruning",
       "pruning makes more intrusive changes: instability 17.1–33.5 % against 6.3–8.1 % for int8",
       "17.1–33.5 % vs 6.3–8.1 %",
       "the 95 % interval of pruned − int8 instability lies above 0 on every architecture"),
    _C("pruning.size", "§5.1", "pruning",
       "after pruning, the model sizes were compressed to one third of their original size", "≈ 1/3",
       "the gzip size ratio of the pruned TFLite file lies in 25–42 % on every architecture (exact, no sampling)",
       (0.25, 0.42)),
    _C("robust.defends", "§5.5", "robust",
       "both attacks' evasive success rates drop when they attack the robust trained models",
       "DIVA 92–97 % → about 10 %",
       "the 95 % intervals of non-robust − robust top-1 success lie above 0 for DIVA and for PGD"),
    _C("robust.c5_beats_pgd", "§5.5", "robust",
       "with c = 5 DIVA improves the top-1 success rate from 10.5 % (PGD) to 12.8 %", "12.8 % vs 10.5 %",
       "the 95 % interval of DIVA(c = 5) − PGD top-1 success lies above 0"),
    _C("robust.same_robust_accuracy", "§5.5", "robust",
       "robust accuracy of the quantized model: 22.63 % for PGD, 21.77 % for DIVA", "difference 0.86 points",
       "the 95 % interval of the PGD − DIVA robust-accuracy difference meets ±5 points", (-0.05, 0.05)),
    _C("beyond.direct_robustness", "related paper 003, Table 6", "beyond",
       "quantized networks are more robust against direct attacks the fewer bits they keep (gradient masking)",
       "MNIST FGSM adversarial accuracy 67.8 % at 8 bits, 75.0 % at 2 bits",
       "the 95 % interval of PGD evasion at 8 bits − at the lowest width that meets its floor lies above 0 on every "
       "architecture"),
    _C("beyond.diva_beats_pgd_bits", "§5.2 asked at 6, 4, 2 bits (beyond)", "beyond",
       "DIVA outperforms PGD on the quantized model (the paper tests 8 bits only)", "8 bits: 92.3–97 % vs 30.2–50.9 %",
       "the 95 % interval of DIVA − PGD top-1 success lies above 0 at every width whose model meets its floor"),
    _C("beyond.diva_beats_pgd_sparsity", "§5.6 asked at other sparsities (beyond)", "beyond",
       "DIVA always performs better than PGD on pruned models (the paper tests sparsity 0.8 only)",
       "sparsity 0.8: always above",
       "the 95 % interval of DIVA − PGD top-1 success lies above 0 at every sparsity, pruned and pruned + int8, "
       "whose model meets its floor"),
    _C("beyond.transfer_remains", "related paper 004, §4", "beyond",
       "adversarial samples remain transferable for both pruned and quantised models",
       "no number in the text (Figs 2, 4)",
       "the 95 % interval of every PGD transfer rate between the original and its int8 or pruned model, both "
       "directions, lies above 50 %"),
    _C("beyond.diva_transfers_less", "§3's aim, measured as transfer (beyond)", "beyond",
       "DIVA's images fool the adapted model while the original stays right, so they transfer to the original "
       "far less than PGD's", "not measured as transfer",
       "the 95 % interval of PGD − DIVA transfer to the original lies above 0 for the int8 and the pruned model on "
       "every architecture"),
    _C("beyond.prior_transfers", "related paper 002, Table I", "beyond",
       "most adversarial examples crafted on on-device models successfully transfer to the server model",
       "RFR 0.9–1.0 (8 bits, PGD-10)",
       "the 95 % interval of the original's error on PGD images crafted through the QAT graph reaches 90 % on every "
       "architecture", (0.9, 1.0)),
    _C("beyond.prior_beats_surrogate", "related paper 002, Table I", "beyond",
       "an on-device model is a far better transfer prior than an independently trained model",
       "RFR 1.00 vs 0.17–0.66",
       "the 95 % interval of (QAT graph − independent surrogate) success on the original lies above 0 on every "
       "architecture"),
    _C("face.beats_pgd", "§6, Fig 10", "face",
       "DIVA significantly outperforms PGD with the face recognition task", "≈ 98 % vs far lower",
       "the 95 % interval of DIVA − PGD top-1 success (deployed int8, first success) lies above 0"),
    _C("face.targeted_set", "§6", "face",
       "targeted DIVA narrows the misclassification to a small set of people (8.3 of 150)", "8.3 of 149 people",
       "the 95 % bootstrap interval (over images) of untargeted − targeted DIVA's identities reached on the same "
       "images, averaged over targets, lies above 0"),
)}


def judge(claim_id: str, holds: bool, measured: str, *, models: ModelsTable, rests_on: list[str] | tuple[str, ...],
          stand_in: bool, estimate: Estimate | None = None, scope: str = "") -> dict:
    """The verdict row of one claim, from whether its rule held on the chapter's numbers.

    Args:
        claim_id: a key of `REGISTRY`.
        holds: the claim's rule on the measured numbers.
        measured: the numbers, in words, shown beside the paper's.
        models: the chapter's models table; rests_on: the models the claim needs.
        stand_in: whether this run uses stand-in data (then the registry's stand-in property applies).
        estimate: the value and 95 % interval drawn on the forest plot (on the scale of the claim's band).
        scope: what the measurement covers, e.g. "resnet50, mobilenet, densenet121; n = 1000 each".

    Example:
        >>> judge("pruning.size", True, "33 %", models=ModelsTable(), rests_on=[], stand_in=True)["verdict"]
        'holds'
    """
    claim = REGISTRY[claim_id]
    below = models.failures(rests_on)
    by_model = {c.model: [] for c in below}
    for c in below:
        by_model[c.model].append(str(FLOORS[c.floor]))
    reasons = ["below its floor: " + "; ".join(f"{m} ({', '.join(f)})" for m, f in by_model.items())] if below else []
    if stand_in and claim.stand_in:
        reasons.append(f"a property of the stand-in: {STAND_IN[claim.stand_in]}")
    verdict = UNTESTABLE if reasons else (HOLDS if holds else FAILS)
    est = [estimate.value, estimate.low, estimate.high] if estimate is not None else None
    return {"id": claim.id, "section": claim.section, "chapter": claim.chapter, "claim": claim.quote,
            "paper": claim.paper, "rule": claim.rule, "measured": measured, "scope": scope, "verdict": verdict,
            "reason": "; ".join(reasons), "rule_result": bool(holds), "estimate": est,
            "band": list(claim.band) if claim.band else None}


WIDTHS = {"id": "19%", "the paper says": "27%", "this run": "27%", "verdict": "27%"}
"""Column widths of the claims table."""


def table(rows: list[dict]) -> pd.DataFrame:
    """Claims as the reader sees them: id, the paper's words and numbers, this run's, the verdict and why."""
    frame = pd.DataFrame(rows, columns=["id", "claim", "paper", "measured", "verdict", "reason"])
    return pd.DataFrame({
        "id": frame["id"], "the paper says": frame["claim"] + " (" + frame["paper"] + ")",
        "this run": frame["measured"],
        "verdict": [f"{v}: {r}" if r else v for v, r in zip(frame["verdict"], frame["reason"], strict=True)]})
