"""`python -m voice_guide`: the same as the `voice-guide` command."""

import sys

from .launch import main

sys.exit(main())
