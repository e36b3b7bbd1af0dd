"""Quality floors: the models a claim rests on must be worth attacking, or the claim is not testable here.

Each chapter fills a `ModelsTable` with every model it uses, the floors that model must meet,
its measured value and whether it passes; a claim resting on a model below a floor gets the
verdict "not testable here" naming that floor (see `diva_lib.claims`).
"""

from __future__ import annotations

import operator
from dataclasses import asdict, dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Floor:
    """A lower (">=") or upper ("<=") bound on one measured quantity of a model, or a band ("in")."""

    key: str
    what: str
    op: str
    bound: float | tuple[float, float]

    def passes(self, value: float) -> bool:
        """Whether a measured value meets the floor."""
        if self.op == "in":
            low, high = self.bound
            return low <= value <= high
        return {">=": operator.ge, "<=": operator.le}[self.op](value, self.bound)

    def __str__(self) -> str:
        if self.op == "in":
            return f"{self.what} in [{self.bound[0]:+g}, {self.bound[1]:+g}]"
        return f"{self.what} {'≥' if self.op == '>=' else '≤'} {self.bound:g}"


FLOORS = {f.key: f for f in (
    Floor("fp32_acc", "fp32 accuracy (Fashion-MNIST)", ">=", 0.88),
    Floor("fp32_acc_mnist", "fp32 accuracy (MNIST)", ">=", 0.985),
    Floor("fp32_acc_imagenet", "fp32 top-1 accuracy (ImageNet)", ">=", 0.65),
    Floor("int8_minus_fp32", "int8 − fp32 accuracy", "in", (-0.02, 0.01)),
    Floor("qat_int8_disagreement", "QAT graph vs int8 disagreement", "<=", 0.02),
    Floor("pgd_evasion", "whitebox PGD (20 steps) fools the deployed model", ">=", 0.98),
    Floor("surrogate_agreement", "semi-blackbox surrogate agrees with the original", ">=", 0.90),
    Floor("pruned_minus_original", "pruned − original accuracy", "in", (-0.03, 1.0)),
    Floor("sparsity", "zero weights in the deployed file", ">=", 0.75),
    Floor("robust_pgd_acc", "fp32 accuracy under PGD-20", ">=", 0.40),
    Floor("int8_robust_gap", "int8 − fp32 accuracy under PGD-20", ">=", -0.10),
    Floor("second_attack_gap", "|second attack − PGD| robust accuracy", "<=", 0.05),
    Floor("compressed_acc", "accuracy of a compressed model (beyond the paper)", ">=", 0.5),
    Floor("face_acc", "face accuracy", ">=", 0.95),
    Floor("n_headline", "images per headline rate", ">=", 1000),
    Floor("n_rate", "images per compared rate", ">=", 200),
    Floor("n_face", "attacked face images", ">=", 120),
)}


def fp32_floor(dataset: str) -> str:
    """The fp32 accuracy floor of a dataset."""
    return {"mnist": "fp32_acc_mnist", "imagenet": "fp32_acc_imagenet"}.get(dataset, "fp32_acc")


@dataclass(frozen=True)
class Check:
    """One model measured against one floor."""

    model: str
    floor: str
    value: float
    passed: bool

    def reason(self) -> str:
        """'mobilenet fp32: fp32 accuracy ≥ 0.88 (measured 0.772)'."""
        return f"{self.model}: {FLOORS[self.floor]} (measured {self.value:.3g})"


@dataclass
class ModelsTable:
    """Every model a chapter uses, with each floor it must meet and whether it does."""

    checks: list[Check] = field(default_factory=list)

    def check(self, model: str, floor: str, value: float) -> bool:
        """Record `model`'s value against a floor of `FLOORS`; whether it passes."""
        if floor not in FLOORS:
            raise KeyError(f"floor {floor!r} is unknown; floors are {sorted(FLOORS)}")
        passed = FLOORS[floor].passes(float(value))
        self.checks.append(Check(model, floor, float(value), passed))
        return passed

    def failures(self, models: list[str] | tuple[str, ...]) -> list[Check]:
        """The failed checks of the given models (a model name matches itself and names that start with it)."""
        return [c for c in self.checks if not c.passed and any(c.model == m or c.model.startswith(f"{m} ")
                                                               for m in models)]

    def frame(self) -> pd.DataFrame:
        """The models table: model, floor, measured value, pass or fail."""
        return pd.DataFrame([{"model": c.model, "floor": str(FLOORS[c.floor]), "measured": f"{c.value:.4g}",
                              "meets it": "yes" if c.passed else "no"} for c in self.checks],
                            columns=["model", "floor", "measured", "meets it"])

    def records(self) -> list[dict]:
        """The table as JSON rows."""
        return [{**asdict(c), "floor_text": str(FLOORS[c.floor])} for c in self.checks]
