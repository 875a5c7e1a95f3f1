"""`python -m equitr.action`: the same entry point as `equitr action`."""

from equitr.action.main import main

raise SystemExit(main())
