"""`python -m playlist2vec.cli`: the same command as the `playlist2vec` console script."""

from __future__ import annotations

from playlist2vec.cli import main

raise SystemExit(main())
