from tokentop.cli import main

raise SystemExit(main())
