"""Numbers reported in the DIVA paper (Hao et al.), used only as the reference column of comparisons."""

from __future__ import annotations

from dataclasses import dataclass

TABLE1 = {
    "resnet50": {"fp32_acc": 0.721, "quantized_acc": 0.701, "orig_correct_adapted_wrong": 1510,
                 "orig_wrong_adapted_correct": 925, "instability": 0.081},
    "mobilenet": {"fp32_acc": 0.691, "quantized_acc": 0.674, "orig_correct_adapted_wrong": 1199,
                  "orig_wrong_adapted_correct": 677, "instability": 0.063},
    "densenet121": {"fp32_acc": 0.735, "quantized_acc": 0.710, "orig_correct_adapted_wrong": 1567,
                    "orig_wrong_adapted_correct": 816, "instability": 0.079},
}

SETTINGS = {
    "dataset": "ImageNet val (20,000 fine-tuning images; Table 1 on the held-out images)",
    "image_size": 224,
    "weights": "Keras ImageNet weights, fine-tuned",
    "qat": "tfmot quantize_model, 2 epochs of QAT on 20,000 images",
    "deployed": "TFLite int8 with tflite-runtime on an ARM edge board",
}


@dataclass(frozen=True)
class AttackSettings:
    """The L∞ attack of §5.1: radius, step, number of steps, no random start (WBattack.py on 0–255 pixels: 8, 1, 20)."""

    eps: float = 8 / 255
    step: float = 1 / 255
    steps: int = 20

    def describe(self) -> str:
        """'8/255 / 1/255 / 20 / no'."""
        return f"{self.eps * 255:g}/255 / {self.step * 255:g}/255 / {self.steps} / no"

    def kwargs(self) -> dict[str, float | int]:
        """The attack constructors' keywords: {'eps': ..., 'step': ..., 'steps': ...}."""
        return {"eps": self.eps, "step": self.step, "steps": self.steps}


ATTACK = AttackSettings()
