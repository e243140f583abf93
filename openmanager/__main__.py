"""``python -m openmanager``."""

from openmanager.cli import main

raise SystemExit(main())
