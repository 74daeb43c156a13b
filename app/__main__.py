"""``python -m app`` runs the same thing as the ``kvs-studio`` command."""

import sys

from app.cli import main

sys.exit(main())
