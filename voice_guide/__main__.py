"""`python -m voice_guide`: the same as the `voice-guide` command."""

from .launch import end, main

end(main())
