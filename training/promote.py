"""Champion/challenger promotion: move `champion` only to a challenger that is not worse.

Rule (both measured on the same test slice: that of the challenger's own training data, rebuilt
from its recorded source, or of the data `--raw`/`--dataset` name): the challenger's ROC-AUC may
be at most 0.005 below the champion's, and its expected calibration error at most 0.01 above it.
The slice is the newest only when the challenger was trained on the newest data (as the monthly
retrain does): the decision says which dataset it was judged on, and notes when the champion
was trained on other data or tested on a newer slice. A challenger trained past the leakage
guard (`train --allow-label-leakage`), or a comparison dataset with a feature that alone gives
the label away, is never accepted by the rule; only `--force` promotes it. On a test slice of
fewer than `FEW_TEST_POSITIVES` positives a note gives both ROC-AUCs' 95% intervals and says
when they overlap: the rule's 0.005 cannot then tell the versions apart, but it is applied as it
stands (a stricter rule on such a slice would keep any champion forever, a looser one would
promote on noise either way; the note leaves the call, and `--force`, to the reader).
Every decision, including `--force`, is recorded as an MLflow run of its own with both metric
sets, and as a `model_promotion` row in the warnings store's audit log (actor: `cli:` + `RISKLOOP_ACTOR`,
else the OS user), so the history of which version served when is auditable in both places.
A task's first version, champion from its training, is such a row too (decision `first`).
A challenger that is the same model as the champion (`same_model`: the same booster text,
calibrator and thresholds, so the same score and level for every record) decides nothing, as
promoting the champion itself: `unchanged`, the alias stays, so the next screen does not
re-score every open warning under a new version number. The warnings store must already exist
(`open_existing_store`): it is opened before anything is decided, so a promote run from
another folder is refused in one line, having moved nothing and created nothing.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from models.spec import TaskSpec
from training.commands import cli_actor
from training.datasets import Splits, TrainingData, build_from_raw, read_dataset, split_dataset
from training.errors import UserError
from training.leakage import (
    LEAKAGE_FINDING_TAG,
    LEAKAGE_OVERRIDE_TAG,
    auc_interval,
    leakage_findings,
    slice_counts,
)
from training.train import FEW_TEST_POSITIVES, few_positives_caveat

if TYPE_CHECKING:
    from models.risk_model import RiskModel
    from serving.store import WarningStore

COMPARED_METRICS = ("roc_auc", "pr_auc", "brier", "ece", "lift_recovered", "oracle_roc_auc")


def signed(value: float, digits: int = 4) -> str:
    """A change with its sign, `digits` decimals, never a negative zero: identical metrics
    read +0.0000, not -0.0000 (rounded first, then -0.0 + 0.0 is +0.0)."""
    return f"{round(value, digits) + 0.0:+.{digits}f}"


@dataclass(frozen=True)
class PromotionRule:
    """How much worse a challenger may be and still take over."""

    max_auc_drop: float = 0.005
    max_ece_rise: float = 0.01

    def judge(self, challenger: dict[str, float], champion: dict[str, float]) -> tuple[bool, str]:
        """(accept, reason in words)."""
        auc_drop = champion["roc_auc"] - challenger["roc_auc"]
        ece_rise = challenger["ece"] - champion["ece"]
        if math.isnan(auc_drop) or math.isnan(ece_rise):
            return False, "AUC or ECE undefined on the test slice"
        problems = []
        if auc_drop > self.max_auc_drop:
            problems.append(f"AUC {auc_drop:.4f} lower (limit {self.max_auc_drop})")
        if ece_rise > self.max_ece_rise:
            problems.append(f"ECE {ece_rise:.4f} higher (limit {self.max_ece_rise})")
        if problems:
            return False, "challenger is worse: " + "; ".join(problems)
        return (
            True,
            f"challenger not worse: AUC change {signed(-auc_drop)}, ECE change {signed(ece_rise)}",
        )


@dataclass(frozen=True)
class PromotionDecision:
    """The outcome of one `riskloop promote`."""

    task: str
    promoted: bool
    forced: bool
    reason: str
    challenger_version: int
    champion_before: int | None
    champion_after: int | None
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float]
    run_id: str
    #: the dataset both were measured on: its source, rows and test slice, in words
    compared_on: str = ""
    #: what a reader of the decision should know about that dataset (other training data, an
    #: older slice than the champion's own test slice)
    notes: tuple[str, ...] = ()
    #: nothing to decide: the challenger is the champion, or the same model (`same_model`)
    unchanged: bool = False

    @property
    def outcome(self) -> str:
        """The decision as MLflow and the audit log record it: `promoted`, `unchanged` (the
        challenger already was the champion, or is the same model: nothing to decide) or
        `refused` (champion kept)."""
        if self.promoted:
            return "promoted"
        return "unchanged" if self.unchanged else "refused"


@dataclass(frozen=True)
class _Judgement:
    """`_judge`'s answer: whether the rule accepts the challenger, why, the champion's metrics,
    notes on the comparison, and whether there was nothing to decide."""

    accepted: bool
    reason: str
    champion_metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    notes: tuple[str, ...] = ()
    unchanged: bool = False


def same_model(challenger: RiskModel, champion: RiskModel) -> bool:
    """Whether two fitted models give every record the same score, level and reasons: the same
    booster (LightGBM's text, which holds its trees and feature names), calibrator and
    thresholds. A retrain on unchanged tables gives such a copy under a new version number."""
    return (
        challenger.calibrator_ == champion.calibrator_
        and challenger.thresholds_ == champion.thresholds_
        and challenger.model_text() == champion.model_text()
    )


def _newest_data(spec: TaskSpec, tags: dict[str, str]) -> TrainingData:
    """The challenger's own training data (its test slice is the newest one it knows), with the
    truth it was trained with (`train --dataset F --truth DIR`), so the oracle metrics stay."""
    run_source = tags.get("riskloop.dataset_source", "")
    source = Path(run_source)
    if source.is_dir():
        return build_from_raw(
            spec, source, with_feedback=tags.get("riskloop.feedback_used") == "true"
        )
    if source.is_file():
        truth = Path(tags.get("riskloop.truth_source") or "")
        return read_dataset(spec, source, truth.parent if truth.is_file() else None)
    raise UserError(
        f"the challenger's dataset {run_source or '(unknown)'} is gone; pass --dataset or --raw"
    )


def compared_on(data: TrainingData, splits: Splits) -> str:
    """The comparison's dataset in words: its source, rows and test slice."""
    return (
        f"{data.source} ({len(data.frame):,} rows; test slice {len(splits.test):,} rows, as of "
        f"{splits.test['as_of'].min():%Y-%m-%d}..{splits.test['as_of'].max():%Y-%m-%d})"
    )


def leakage_refusal(challenger_tags: dict[str, str], splits: Splits, spec: TaskSpec) -> str:
    """Why the rule must not accept the challenger for leakage ("" when nothing found): it was
    trained past the leakage guard, or the comparison's own training slice gives the label
    away (a leaky dataset would judge its own model perfect)."""
    if challenger_tags.get(LEAKAGE_OVERRIDE_TAG) == "true":
        found = challenger_tags.get(LEAKAGE_FINDING_TAG, "")
        return (
            "challenger was trained past the label-leakage guard (--allow-label-leakage"
            + (f": {found}" if found else "")
            + "); only --force promotes it"
        )
    findings = leakage_findings(spec, splits.train)
    if findings:
        return (
            f"the comparison dataset leaks the label: {'; '.join(findings)}; only --force promotes"
        )
    return ""


def _few_positives_note(
    challenger: dict[str, float], judged: _Judgement, versions: tuple[int, int | None]
) -> str:
    """On a test slice of few positives (`few_positives_caveat`), both versions' ROC-AUCs with
    their 95% intervals (Hanley & McNeil) and whether the intervals overlap, the AUC comparison
    then unable to tell the versions apart; the challenger's caveat alone when nothing was
    compared; "" with enough positives."""
    caveat = few_positives_caveat(challenger)
    counts = slice_counts(challenger)
    champion = judged.champion_metrics
    if not caveat or judged.unchanged or "roc_auc" not in champion or counts is None:
        return caveat
    (challenger_low, challenger_high), (champion_low, champion_high) = (
        auc_interval(metrics["roc_auc"], *counts) for metrics in (challenger, champion)
    )
    if not challenger_high >= champion_low or not champion_high >= challenger_low:
        verdict = "the intervals do not overlap"
    else:
        verdict = (
            "the intervals overlap, so the AUC comparison cannot tell the versions apart (the "
            "rule was applied as it stands)"
        )
    return (
        f"the test slice holds only {counts[0]} positives (of {sum(counts):,} rows, fewer than "
        f"{FEW_TEST_POSITIVES}): challenger v{versions[0]} ROC-AUC {challenger['roc_auc']:.3f} "
        f"(95% interval {challenger_low:.3f}-{challenger_high:.3f}), champion v{versions[1]} "
        f"{champion['roc_auc']:.3f} ({champion_low:.3f}-{champion_high:.3f}; Hanley & McNeil): "
        + verdict
    )


def _champion_notes(
    champion_tags: dict[str, str],
    champion_params: dict[str, str],
    data: TrainingData,
    splits: Splits,
) -> tuple[str, ...]:
    """What the comparison hides about the champion: trained on other data (another source, or
    the same one changed since), or tested on a newer slice than the one both are judged on."""
    notes = [trained_elsewhere("champion", champion_tags, champion_params, data)]
    own_test_end = champion_params.get("test_as_of", "").partition("..")[2]
    compared_end = f"{splits.test['as_of'].max():%Y-%m-%d}"
    if own_test_end and own_test_end > compared_end:
        notes.append(
            f"the champion's own test slice reaches {own_test_end}, newer than the compared "
            f"slice (to {compared_end}): not the newest data"
        )
    return tuple(note for note in notes if note)


def trained_elsewhere(
    who: str, tags: dict[str, str], params: dict[str, str], data: TrainingData
) -> str:
    """Whether `who` (the champion, the challenger) was trained on other data than `data`, the
    comparison's: another source, or the same one changed since (its tables or the feedback
    read with them: a city generated anew there is other data under the same name); "" when
    not, or when its run does not say."""
    source = tags.get("riskloop.dataset_source", "")
    if source and source != data.source:
        return f"the {who} was trained on {source}; both were judged on {data.source}"
    logged = params.get("dataset_fingerprint")
    if logged and logged != data.fingerprint:
        return (
            f"the {who} was trained on {data.source} as it was then (dataset fingerprint "
            f"{logged}); both were judged on the data there now ({data.fingerprint})"
        )
    return ""


def _judge(
    spec: TaskSpec,
    rule: PromotionRule,
    versions: tuple[int, int | None],
    challenger: tuple[RiskModel, dict[str, float]],
    splits: Splits,
    data: TrainingData,
) -> _Judgement:
    """Whether the rule accepts the challenger (the model and its metrics) over the champion,
    why, the champion's metrics and notes on the comparison (`_champion_notes`)."""
    from models.registry import load_registered
    from models.risk_model import ModelLoadError
    from training import tracking
    from training.evaluate import evaluate_model

    challenger_version, champion_before = versions
    challenger_model, challenger_metrics = challenger
    if champion_before is None:
        return _Judgement(True, "no champion yet")
    if champion_before == challenger_version:
        return _Judgement(
            False, f"version {challenger_version} is already the champion", unchanged=True
        )
    try:
        champion, info = load_registered(spec.task, tracking.CHAMPION)
    except ModelLoadError as exc:
        return _Judgement(
            False,
            f"champion cannot be evaluated: {exc}; nothing serves it either: "
            f"`riskloop promote --task {spec.task} --force` moves champion to the challenger",
        )
    notes: tuple[str, ...] = ()
    if info.run_id:
        run = tracking.tracking_client().get_run(info.run_id)
        notes = _champion_notes(dict(run.data.tags), dict(run.data.params), data, splits)
    if same_model(challenger_model, champion):  # the same scores: the same figures, unevaluated
        return _Judgement(
            False,
            f"version {challenger_version} is the same model as champion version "
            f"{champion_before} (same booster, calibrator and thresholds): promoting it would "
            "only re-score every open warning under a new version number",
            dict(challenger_metrics),
            notes,
            unchanged=True,
        )
    champion_metrics = evaluate_model(champion, splits.test, data.truth)
    accepted, reason = rule.judge(challenger_metrics, champion_metrics)
    return _Judgement(accepted, reason, champion_metrics, notes)


def _log_promotion_run(
    spec: TaskSpec,
    decision: PromotionDecision,
    force: bool,
    rule: PromotionRule,
    splits: Splits,
    data: TrainingData,
) -> str:
    """The promotion's MLflow run (decision tags, rule, compared metrics); its run id."""
    import mlflow

    from training import tracking

    with mlflow.start_run(run_name=f"promote-{spec.task}") as run:
        mlflow.set_tags(
            {
                "riskloop.kind": "promotion",
                "riskloop.task": spec.task,
                "riskloop.decision": decision.outcome,
                "riskloop.forced": str(decision.forced).lower(),
                "riskloop.force_requested": str(force).lower(),
                "riskloop.reason": decision.reason,
                "riskloop.challenger_version": str(decision.challenger_version),
                "riskloop.champion_before": str(decision.champion_before or ""),
                "riskloop.champion_after": str(decision.champion_after or ""),
                "riskloop.dataset_source": data.source,
            }
        )
        mlflow.log_params(
            {
                "max_auc_drop": rule.max_auc_drop,
                "max_ece_rise": rule.max_ece_rise,
                "dataset_fingerprint": data.fingerprint,
                "test_as_of": f"{splits.test['as_of'].min():%Y-%m-%d}.."
                f"{splits.test['as_of'].max():%Y-%m-%d}",
                "n_test": len(splits.test),
            }
        )
        for prefix, metrics in (
            ("challenger", decision.challenger_metrics),
            ("champion", decision.champion_metrics),
        ):
            mlflow.log_metrics(
                tracking.finite_metrics(
                    {f"{prefix}_{key}": metrics[key] for key in COMPARED_METRICS if key in metrics}
                )
            )
    return str(run.info.run_id)


def _move_champion(name: str, decision: PromotionDecision) -> None:
    """Point `champion` at the challenger and record on the version how it became champion
    (`forced` or `rule`), why, when and by which run (`tracking.record_promotion`)."""
    from training import tracking

    version = decision.challenger_version
    tracking.tracking_client().set_registered_model_alias(name, tracking.CHAMPION, str(version))
    how = "forced" if decision.forced else "rule"
    tracking.record_promotion(name, version, how, decision.reason, decision.run_id)


def promote(
    spec: TaskSpec,
    data: TrainingData | None = None,
    force: bool = False,
    rule: PromotionRule | None = None,
    version: int | None = None,
) -> PromotionDecision:
    """Compare challenger and champion on the newest test slice and move `champion` if allowed.
    `version`: the registered version to judge instead of the challenger (the way back to an
    earlier champion); the `challenger` alias stays where it is.

    Raises:
        UserError: no challenger, or no warnings store to record the decision in (a SQLite
            store whose file is not there: refused before anything is decided or created).
        RegistryError: the registry has no such `version`.
    """
    from training import tracking
    from training.commands.people import open_existing_store

    tracking.configure_tracking()  # a registry that cannot be opened is said first
    with open_existing_store() as store:
        return _promote(store, spec, data, force, rule or PromotionRule(), version)


def _candidate(spec: TaskSpec, version: int | None) -> tuple[int, RiskModel, str | None]:
    """The version to judge (the challenger, or `version`), its model and its training run."""
    from models.registry import load_numbered, load_registered
    from models.settings import get_settings
    from training import tracking

    if version is None:
        found = tracking.alias_version(spec.registered_model_name, tracking.CHALLENGER)
        if found is None:
            raise UserError(f"no challenger registered for {spec.task}: run `riskloop train` first")
        model, info = load_registered(spec.task, tracking.CHALLENGER)
        return found, model, info.run_id
    uri = get_settings().mlflow_uri
    model = load_numbered(spec.task, str(version), uri)  # no such version: RegistryError
    registered = tracking.tracking_client().get_model_version(
        spec.registered_model_name, str(version)
    )
    return version, model, registered.run_id


def _promote(
    store: WarningStore,
    spec: TaskSpec,
    data: TrainingData | None,
    force: bool,
    rule: PromotionRule,
    version: int | None = None,
) -> PromotionDecision:
    """`promote` with the warnings store its decision is recorded in."""
    from training import tracking
    from training.evaluate import evaluate_model

    client = tracking.tracking_client()
    name = spec.registered_model_name
    challenger_version, challenger, run_id = _candidate(spec, version)
    champion_before = tracking.alias_version(name, tracking.CHAMPION)
    run = client.get_run(run_id) if run_id else None
    challenger_tags = dict(run.data.tags) if run else {}
    if data is None:
        data = _newest_data(spec, challenger_tags)
    splits: Splits = split_dataset(spec, data.frame)
    challenger_metrics = evaluate_model(challenger, splits.test, data.truth)
    judged = _judge(
        spec,
        rule,
        (challenger_version, champion_before),
        (challenger, challenger_metrics),
        splits,
        data,
    )
    accepted, reason = judged.accepted, judged.reason
    leaked = (
        ""
        if judged.unchanged
        else leakage_refusal(challenger_tags, splits, spec.without(data.left_out))
    )
    if leaked:
        accepted, reason = False, leaked
    promoted = accepted or (force and not judged.unchanged)
    if force and not accepted and promoted:
        reason = f"forced: {reason}"
    decision = PromotionDecision(
        task=spec.task,
        promoted=promoted,
        forced=force and promoted and not accepted,
        reason=reason,
        challenger_version=challenger_version,
        champion_before=champion_before,
        champion_after=challenger_version if promoted else champion_before,
        challenger_metrics=challenger_metrics,
        champion_metrics=judged.champion_metrics,
        run_id="",
        compared_on=compared_on(data, splits),
        notes=tuple(
            note
            for note in (
                trained_elsewhere(
                    "challenger", challenger_tags, dict(run.data.params) if run else {}, data
                ),
                *judged.notes,
                _few_positives_note(
                    challenger_metrics, judged, (challenger_version, champion_before)
                ),
            )
            if note
        ),
        unchanged=judged.unchanged,
    )
    run_id = _log_promotion_run(spec, decision, force, rule, splits, data)
    decision = dataclasses.replace(decision, run_id=run_id)
    if promoted:
        _move_champion(name, decision)
    _audit_promotion(store, decision)
    return decision


def _audit_promotion(store: WarningStore, decision: PromotionDecision) -> None:
    """Append the decision to the warnings store's audit log, beside scores and dispositions."""
    _append_promotion_row(
        store,
        decision.task,
        decision.champion_after,
        {
            "decision": decision.outcome,
            "forced": decision.forced,
            "reason": decision.reason,
            "challenger_version": decision.challenger_version,
            "champion_before": decision.champion_before,
            "champion_after": decision.champion_after,
            "mlflow_run_id": decision.run_id,
        },
        f"decision recorded in MLflow run {decision.run_id}",
    )


def audit_first_champion(task: str, version: int, run_id: str) -> None:
    """The task's first version, champion from its training (`tracking.log_and_register`), as
    the audit log's first `model_promotion` row of the task: decision `first`, recorded under
    whoever trained it, so the log's story of which version served when starts at version 1.
    Training may set a deployment up: the store (and the secrets file) is created if need be."""
    from models.secret_keys import load_secrets
    from models.settings import get_settings
    from serving.store import StoreUnavailable, WarningStore

    settings = get_settings()
    recorded = f"version {version} registered as champion by MLflow run {run_id}"
    try:
        store = WarningStore(settings.store_url, load_secrets(settings).pseudonym_secret)
    except StoreUnavailable as exc:
        raise UserError(
            f"{task}: {recorded}, but the warnings store's audit log could not be written: {exc}"
        ) from None
    with store:
        _append_promotion_row(
            store,
            task,
            version,
            {
                "decision": "first",
                "forced": False,
                "reason": f"first version of {task}: champion from its training",
                "challenger_version": version,
                "champion_before": None,
                "champion_after": version,
                "mlflow_run_id": run_id,
            },
            recorded,
        )


def _append_promotion_row(
    store: WarningStore,
    task: str,
    champion: int | None,
    detail: dict[str, object],
    recorded: str,
) -> None:
    """One `model_promotion` audit row by the CLI's runner; `recorded` says what MLflow holds
    when the warnings store cannot take the row."""
    from sqlalchemy.exc import SQLAlchemyError

    from serving.store import StoreUnavailable

    try:
        store.audit(
            actor=cli_actor(),
            action="model_promotion",
            task=task,
            model_version=None if champion is None else str(champion),
            detail=detail,
        )
    except StoreUnavailable as exc:
        raise UserError(
            f"{task}: {recorded}, but the warnings store's audit log could not be written: {exc}"
        ) from None
    except SQLAlchemyError as exc:
        raise UserError(
            f"{task}: {recorded}, but the warnings store's audit log could not be written: "
            f"{exc.__class__.__name__}"
        ) from None
