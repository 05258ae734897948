"""The command line: ``shoplog run|build|book|ingest|generate``.

Examples::

    shoplog book                                    # default profile, whole book
    shoplog book --profile ci                       # the tests' tiny profile
    shoplog run --set study.end_date=2020-03-01     # other dates, same code
    shoplog ingest --profile rees46                 # just the data step
"""

from __future__ import annotations

import argparse
import sys

from shoplog.ingest import IngestError
from shoplog.params import ParamsError, load_params
from shoplog.paths import ProjectPaths
from shoplog.runner import RunError, build_book, prepare_data, run_chapters


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
        ("run", "ingest the data and execute every chapter in _toc.yml order"),
        ("build", "build the HTML book from the executed chapters"),
        ("book", "run, then build"),
        ("ingest", "only ingest the data into data/processed/"),
    ):
        cmd = sub.add_parser(name, parents=[common], help=helptext, description=helptext)
        if name in ("run", "book"):
            cmd.add_argument("--only", nargs="+", help="execute only these chapters (e.g. 01_data)")
    gen = sub.add_parser("generate", help="write a synthetic shop log (Parquet)")
    gen.add_argument("output", help="the Parquet file to write")
    gen.add_argument("--preset", default="default", choices=["tiny", "default", "large"])
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--users", type=int, default=None, help="number of users (scales events)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code (2 for bad parameters, 1 for a failed run)."""
    args = _parser().parse_args(argv)
    if args.command == "generate":
        from shoplog.synthetic import generate_events

        summary = generate_events(args.output, args.preset, args.seed, n_users=args.users)
        print(f"{summary.rows:,} events, {summary.users:,} users -> {summary.path}")
        return 0
    try:
        params = load_params(args.profile, args.overrides)
        paths = ProjectPaths.create(args.data_dir, args.build_dir)
        print(
            f"profile {params.profile}: {params.data.label}, "
            f"{params.study.start_date} to {params.study.end_date}",
            flush=True,
        )
        if args.command in ("ingest", "run", "book"):
            prepare_data(params, paths, force=args.force and args.command == "ingest")
        if args.command in ("run", "book"):
            run_chapters(params, paths, only=args.only, force=args.force)
        if args.command in ("build", "book"):
            build_book(paths)
    except ParamsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (IngestError, RunError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
