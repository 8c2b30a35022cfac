"""Run the command line as ``python -m nlpmlp``."""

from nlpmlp.cli import main

raise SystemExit(main())
