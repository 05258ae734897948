"""Allow ``python -m shoplog``."""

from shoplog.cli import main

raise SystemExit(main())
