"""The headline numbers of ``evaluate_tables`` as Markdown, for a run record a reader opens
before the full HTML report: the fidelity and privacy checks as one table, and the utility
check (train on synthetic vs train on real, tested on held-out patients) per target."""

from __future__ import annotations

SCORES = ("auc", "accuracy", "precision", "recall", "f1")


def checks_markdown(table_report: dict, privacy: dict, correlation: dict) -> str:
    """One table of the fidelity and privacy checks (``evaluate_tables``' metrics)."""
    t, p, c = table_report, privacy, correlation
    return f"""| check | value |
|---|---|
| flagged columns (KS / TVD > 0.2) | {', '.join(t['flagged_columns']) or 'none'} |
| biggest difference | {t['biggest_difference']} |
| mean column score (KS / TVD) | {t['mean_column_score']:.3f} |
| real-vs-synthetic detection AUC (0.5 = indistinguishable) | {t['detection_auc']:.3f} |
| correlation difference, mean / max abs | {c['mean_abs_diff']:.3f} / {c['max_abs_diff']:.3f} |
| exact / near copies of training rows | {p['share_exact_copies']:.1%} / {p['share_near_copies']:.1%} |
| median distance to the closest training row: synthetic / held-out test patients | {p['dcr_median']:.3f} / {p.get('holdout_dcr_median', float('nan')):.3f} |"""


def _scores(u: dict, key: str) -> str:
    got = u.get(key, {})
    return " | ".join(f"{got[n]:.2f}" if isinstance(got.get(n), (int, float)) else "–" for n in SCORES)


def _interval(u: dict, key: str) -> str:
    ci = (u.get("bootstrap") or {}).get(key)
    return f"[{ci[0]:+.2f}, {ci[1]:+.2f}]" if key == "tstr_minus_trtr" and ci else \
        (f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "–")


def utility_markdown(utility: dict | None) -> str:
    """One paragraph and table per target of the utility check (TRTR and TSTR scores with their
    bootstrap intervals, the majority-class baseline); a target that failed says why."""
    parts = []
    for target, u in (utility or {}).items():
        if "error" in u:
            parts.append(f"`{target}`: not computed ({u['error']})\n")
            continue
        parts.append(f"""Predicting `{target}` ({u['model']} classifier), tested on {u['num_real_test']} rows of
held-out test patients (classes {u['test_class_counts']}; {u['rows_without_target']['test']} test patient(s)
without a value left out); always predicting the training rows' majority class scores accuracy
{u['majority_baseline_accuracy']:.2f}:

| trained on | AUC | accuracy | precision | recall | F1 | AUC 95 % (bootstrap over test rows) |
|---|---:|---:|---:|---:|---:|---|
| {u['num_real_train']} real rows (training patients) | {_scores(u, 'trtr')} | {_interval(u, 'trtr')} |
| {u['num_synthetic_train']} synthetic rows | {_scores(u, 'tstr')} | {_interval(u, 'tstr')} |

TSTR − TRTR AUC: {_interval(u, 'tstr_minus_trtr')}.
""")
    return "\n".join(parts)
