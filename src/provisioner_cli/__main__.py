"""`python -m provisioner_cli`: the same as the `provisioner` console script."""

from provisioner_cli.cli import main

raise SystemExit(main())
