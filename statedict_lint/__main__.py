from statedict_lint.cli import main

raise SystemExit(main())
