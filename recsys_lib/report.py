"""Tables of results for the README, the CLI and the book."""
from __future__ import annotations

__all__ = ["baseline_table"]


def baseline_table(records: list[dict], digits: int = 3) -> str:
    """A markdown table of validation and test metrics, CI and training time."""
    head = ("| model | valid HR@10 | valid NDCG@10 | valid MRR@10 | test HR@10 | test NDCG@10 "
            "| test NDCG@10 95% CI | test MRR@10 | train s | params |")
    lines = [head, "|" + "---|" * 10]
    for r in records:
        v, t = r["valid"], r["test"]
        lo, hi = r["test_ci95"]["NDCG@10"]
        lines.append(f"| {r['model']} | {v['HR@10']:.{digits}f} | {v['NDCG@10']:.{digits}f} "
                     f"| {v['MRR@10']:.{digits}f} | {t['HR@10']:.{digits}f} "
                     f"| {t['NDCG@10']:.{digits}f} | [{lo:.{digits}f}, {hi:.{digits}f}] "
                     f"| {t['MRR@10']:.{digits}f} | {r['train_seconds']:.1f} | {r['params']:,} |")
    return "\n".join(lines)
