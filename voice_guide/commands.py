"""What a listener can ask of the live player, whatever asks it (the keyboard, a test, later the voice)."""

PAUSE = "pause"  # also resumes
NEXT = "next"
BACK = "back"
QUIT = "quit"  # jumps to the closing, which is always spoken
