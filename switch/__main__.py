"""``python -m switch ...``: the documented entry point, kept thin; the command line itself is the
composition root's (:mod:`app.cli`)."""

from app.cli import main

raise SystemExit(main())
