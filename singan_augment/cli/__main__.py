"""``python -m singan_augment.cli`` runs the command line."""

import sys

from .main import main

sys.exit(main())
