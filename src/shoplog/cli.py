"""The command line: ``shoplog run|build|book|ingest|score|target|brief|generate``.

Examples::

    shoplog book                                    # default profile, whole book
    shoplog book --profile ci                       # the tests' tiny profile
    shoplog run --set study.end_date=2020-03-01     # other dates, same code
    shoplog ingest --profile rees46                 # just the data step
    shoplog score --log new.csv --anchor 2020-07-01 # rank a new log's users with the models
    shoplog target --log new.csv --anchor 2020-07-01 # the campaign's list for a new log
    shoplog brief --out brief.pdf                   # the last run's summary as a PDF
"""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from shoplog.config.params import Params, ParamsError, load_params
from shoplog.config.paths import ProjectPaths
from shoplog.events.ingest import IngestError, QualityReport
from shoplog.files import CorruptFileError, describe_os_error, probe_writable
from shoplog.modeling.artifacts import ModelArtifactError
from shoplog.modeling.scoring import ScoringError
from shoplog.publish.brief import BriefError
from shoplog.publish.build import build_book
from shoplog.publish.registry import RunError
from shoplog.publish.runner import prepare_data, run_chapters


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--profile", default="default", help="a profile in params/ or a YAML path")
    common.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter, e.g. --set study.end_date=2020-02-29 (repeatable)",
    )
    common.add_argument("--data-dir", help="data folder (default: data/)")
    common.add_argument("--build-dir", help="build folder (default: _build/)")
    common.add_argument("--force", action="store_true", help="re-run even if nothing changed")

    parser = argparse.ArgumentParser(prog="shoplog", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (
        ("run", "ingest the data and execute every chapter by its number (NN_topic)"),
        ("build", "build the HTML book from the executed chapters"),
        ("book", "run, then build"),
        ("ingest", "only ingest the data into data/processed/"),
    ):
        cmd = sub.add_parser(name, parents=[common], help=helptext, description=helptext)
        if name in ("run", "book"):
            cmd.add_argument("--only", nargs="+", help="execute only these chapters (e.g. 01_data)")
        if name == "build":
            cmd.add_argument(
                "--last-complete",
                action="store_true",
                help="build the last complete run's pages even though a later run failed",
            )
    sc = sub.add_parser(
        "score",
        parents=[common],
        help="rank the users of a log at an anchor date with the trained models",
        description="Compute features at --anchor from --log (with the profile's column "
        "mapping) and write users ranked by churn probability, with purchase probability "
        "and the top SHAP reasons, to the outputs folder.",
    )
    sc.add_argument("--log", required=True, help="the event log to score (CSV, CSV.gz, Parquet)")
    sc.add_argument("--anchor", required=True, help="the scoring date, YYYY-MM-DD (00:00 UTC)")
    sc.add_argument(
        "--model",
        help="a model card or a folder of cards inside the outputs folder "
        "(default: data/outputs/models)",
    )
    sc.add_argument("--out", help="the CSV to write (default: data/outputs/scores/...)")
    tg = sub.add_parser(
        "target",
        parents=[common],
        help="the targeting list of a log at an anchor date, with the book's saved models",
        description="Compute features at --anchor from --log (with the profile's column "
        "mapping), score churn, purchase and value with the book's saved models, assign the "
        "saved segments, and write the campaign's most profitable list (or the profile's "
        "targeting.list_fraction) as the targeting chapter does.",
    )
    tg.add_argument("--log", required=True, help="the event log (CSV, CSV.gz, Parquet)")
    tg.add_argument("--anchor", required=True, help="the targeting date, YYYY-MM-DD (00:00 UTC)")
    tg.add_argument("--out", help="the CSV to write (default: data/outputs/scores/...)")
    br = sub.add_parser(
        "brief",
        parents=[common],
        help="the executive summary of the last run as a one- or two-page PDF",
        description="Write the executive summary (the same numbers and words as the book's "
        "summary page, with static figures) as a PDF for stakeholders.",
    )
    br.add_argument("--out", help="the PDF to write (default: data/outputs/brief.pdf)")
    gen = sub.add_parser("generate", help="write a synthetic shop log (Parquet)")
    gen.add_argument("output", help="the Parquet file to write")
    gen.add_argument("--preset", default="default", choices=["tiny", "default", "large"])
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--users", type=int, default=None, help="number of users (scales events)")
    return parser


class UsageError(ValueError):
    """A folder or argument given on the command line that cannot be used (exit 2)."""


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code: 0 done, 2 a parameter or argument to
    fix, 1 a failed run (the message says which step and why), 130 interrupted.

    Every mistake a user can make ends in one message, never a traceback."""
    args = _parser().parse_args(argv)
    previous = _stop_on_sigterm()
    try:
        return _dispatch(args)
    except (ParamsError, UsageError) as exc:
        return _fail(exc, 2)
    except (
        IngestError,
        RunError,
        ScoringError,
        ModelArtifactError,
        CorruptFileError,
        BriefError,
    ) as exc:
        return _fail(exc, 1)
    except OSError as exc:
        return _fail(describe_os_error(exc, f"running `shoplog {args.command}`"), 1)
    except KeyboardInterrupt:
        return _fail("interrupted; nothing published was changed. Run the command again.", 130)
    except Exception as exc:
        if "No space left on device" not in str(exc):  # the engine's own I/O errors
            raise
        full = OSError(errno.ENOSPC, "No space left on device")
        return _fail(describe_os_error(full, f"running `shoplog {args.command}`"), 1)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _fail(exc: Exception | str, code: int) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return code


def _stop_on_sigterm() -> Any:
    """Turn SIGTERM into KeyboardInterrupt, so a killed run cleans up (its Jupyter Book
    and kernels stop, nothing half-published); returns the handler to restore."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


def writable_folder(folder: Path, option: str) -> None:
    """Create ``folder`` and check a file can be written in it, or say what to do."""
    try:
        probe_writable(folder)
    except OSError as exc:
        raise UsageError(
            f"{option} {folder.name}: the folder cannot be written ({exc.strerror or exc}); "
            f"choose a writable folder with {option} or fix its permissions"
        ) from None


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "generate":
        from shoplog.events.synthetic import generate_events

        summary = generate_events(args.output, args.preset, args.seed, n_users=args.users)
        print(f"{summary.rows:,} events, {summary.users:,} users -> {summary.path}")
        return 0
    params = load_params(args.profile, args.overrides)
    paths = ProjectPaths.create(args.data_dir, args.build_dir)
    writable_folder(paths.data_dir, "--data-dir")
    if args.command != "ingest":
        writable_folder(paths.build_dir, "--build-dir")
    study = params.study
    window = f"{study.start_date} to {study.end_date}".replace("auto", "(from the log)")
    print(f"profile {params.profile}: {params.data.label}, {window}", flush=True)
    if args.command == "score":
        return _score(args, params, paths)
    if args.command == "target":
        return _target(args, params, paths)
    if args.command == "brief":
        return _brief(args, paths)
    if args.command in ("ingest", "run", "book"):
        quality = prepare_data(params, paths, force=args.force and args.command == "ingest")
        # an 'auto' study window is the one ingestion chose from the log
        if not study.is_resolved:
            params = params.with_study(
                dt.date.fromisoformat(quality.study_start), dt.date.fromisoformat(quality.study_end)
            )
            print(f"study window from the log: [{quality.study_start}, {quality.study_end})")
        params = _fit_anchors(params, quality)
    if args.command in ("run", "book"):
        run_chapters(params, paths, only=args.only, force=args.force)
    if args.command in ("build", "book"):
        last_complete = getattr(args, "last_complete", False)
        build_book(paths, params.book.extra_chapters, last_complete=last_complete)
    return 0


def _brief(args: argparse.Namespace, paths: ProjectPaths) -> int:
    """The last run's summary as a PDF (``--out`` or the outputs folder's ``brief.pdf``)."""
    from shoplog.publish.brief import write_brief

    out = Path(args.out) if args.out else paths.brief_path
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; give the PDF file to write")
    written = write_brief(paths.glued_dir, out)
    print(f"brief -> {written}")
    return 0


def _fit_anchors(params: Params, quality: QualityReport) -> Params:
    """The profile with ``anchors.fit: auto`` applied to the ingested log's span."""
    from shoplog.dataset import fit

    if quality.first_event is None or quality.last_event is None:
        return params
    fitted = fit.resolve_anchors(
        params,
        dt.datetime.fromisoformat(quality.first_event),
        dt.datetime.fromisoformat(quality.last_event),
    )
    if fitted.anchors.asked != params.anchors.asked:
        print(f"anchor plan fitted to the log: {fit.changes(fitted)}")
    return fitted


def _anchor_and_out(args: argparse.Namespace) -> dt.date:
    """The --anchor date, with --out checked before any scoring work (not after it)."""
    try:
        anchor = dt.date.fromisoformat(args.anchor)
    except ValueError:
        raise UsageError(f"--anchor {args.anchor!r} is not a date (YYYY-MM-DD)") from None
    if args.out:
        out = Path(args.out)
        if out.is_dir():
            raise UsageError(f"--out {out.name} is a folder: name the CSV file to write")
        writable_folder(out.resolve().parent, "--out")
    return anchor


def _print_log_and_models(quality, models: dict[str, str]) -> None:
    if quality is not None:
        drops = ", ".join(f"{k} {v:,}" for k, v in quality.drops.items() if v) or "none"
        print(f"log: {quality.rows_read:,} rows read, dropped: {drops}")
    for task, model in models.items():
        print(f"{task} model: {model}")


def _score(args: argparse.Namespace, params, paths: ProjectPaths) -> int:
    """Run ``shoplog score`` and print what was scored, left out and dropped."""
    from shoplog.modeling.scoring import score

    anchor = _anchor_and_out(args)
    summary = score(params, paths, args.log, anchor, args.model, args.out)
    _print_log_and_models(summary.quality, summary.models)
    left = ", ".join(f"{k}: {v:,}" for k, v in summary.not_scored.items())
    print(
        f"{summary.scored:,} users scored at {anchor} ({left}; {summary.short_history:,} "
        "scored users have less history than the longest feature window)"
    )
    print(f"ranked list -> {summary.path}")
    return 0


def _target(args: argparse.Namespace, params, paths: ProjectPaths) -> int:
    """Run ``shoplog target`` and print who was scored and listed, and why."""
    from shoplog.action.targeting import target

    anchor = _anchor_and_out(args)
    summary = target(params, paths, args.log, anchor, args.out)
    _print_log_and_models(summary.quality, summary.models)
    left = ", ".join(f"{k}: {v:,}" for k, v in summary.not_scored.items())
    campaign = summary.campaign
    print(f"{summary.scored:,} users scored at {anchor} ({left})")
    print(
        f"{campaign.listed:,} users with a positive expected contact profit listed, highest "
        f"first: expected profit {campaign.profit:,.0f} for a cost of {campaign.cost:,.0f} "
        f"-> {summary.path}"
    )
    return 0
