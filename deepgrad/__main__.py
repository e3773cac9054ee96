"""``python -m deepgrad ...`` runs the ``deepgrad`` command."""
import sys

from .cli import main

sys.exit(main())
