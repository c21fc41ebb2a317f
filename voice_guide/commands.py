"""What a listener can ask of the live player, whatever asks it (the keyboard, a test, later the voice)."""

PAUSE = "pause"  # also resumes
NEXT = "next"
BACK = "back"
QUIT = "quit"  # jumps to the closing, which is always spoken
# Spoken commands (hearing.py): each does one thing only, so a misheard one cannot undo another.
PAUSE_ONLY = "pause only"  # pauses; ignored while paused
RESUME = "resume"  # resumes; ignored while playing
REPEAT = "repeat"  # the current step again, from its instruction
TIME_LEFT = "time left"  # answered by a line of its own (api._listen); the schedule is unchanged
