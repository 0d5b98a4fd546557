from switch.cli import main

raise SystemExit(main())
