"""`python -m voice_guide`: the same as the `voice-guide` command."""

import sys

from .cli import main

sys.exit(main())
