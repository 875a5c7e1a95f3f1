from equitr.cli import main

raise SystemExit(main())
