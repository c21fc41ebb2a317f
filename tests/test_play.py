"""api.play: the wiring, with the real speech engine and a sound device that cannot play."""

from __future__ import annotations

import io

import pytest

from voice_guide import api
from voice_guide.env import Environment
from voice_guide.errors import AudioDeviceError, BadInputError, NoAudioDeviceError, OutputError
from voice_guide.loader import load
from voice_guide.routine import Voice

from .fakes import QUICK


class NoDevice:
    def play(self, pcm):
        raise AudioDeviceError("the audio device failed: Error opening PCM device. -- CODE: -2")

    def stop_all(self):
        pass

    def wait_done(self):
        pass


def quiet_env(cache_root) -> Environment:
    return Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(),
                       cache_dir=cache_root / "voice-guide", open_sink=NoDevice)


def test_play_with_no_device_says_there_is_none_with_the_devices_own_words_as_the_cause(cache_root):
    with pytest.raises(NoAudioDeviceError) as caught:
        api.play(load(str(QUICK)), api.Settings(), quiet_env(cache_root))
    assert str(caught.value) == "no audio output device found"
    assert "CODE: -2" in str(caught.value.__cause__)


def test_play_with_no_device_on_the_command_line_suggests_exporting_that_routine(cli, cache_root):
    result = cli("play", QUICK, "--no-keys", env=quiet_env(cache_root), status=1)
    assert result.stderr == (
        f"voice-guide: no audio output device found; export the routine instead: voice-guide export {QUICK} "
        "-o quick.mp3\n"
    )


def test_the_no_device_suggestion_carries_the_users_options_and_names_the_file_after_the_routine(cli, cache_root):
    result = cli("play", "calf", "--rate", "120", "--volume", "0.8", "--no-chime", "--voice", "en-gb",
                 env=quiet_env(cache_root), status=1)
    assert result.stderr.endswith(
        "export the routine instead: voice-guide export calf -o calf.mp3 --voice en-gb --rate 120 --volume 0.8 "
        "--no-chime\n"
    )


def test_play_with_a_timing_log_it_cannot_write_says_so_before_any_sound(cache_root, tmp_path):
    log = tmp_path / "no-such-folder" / "timing.jsonl"
    with pytest.raises(OutputError, match=r"folder .*no-such-folder does not exist; create it or choose another output path$"):
        api.play(load(str(QUICK)), api.Settings(timing_log=log), quiet_env(cache_root))


def test_play_rejects_a_start_step_past_the_end_before_making_any_sound(cache_root):
    with pytest.raises(BadInputError, match=r"^--start-at 4: 'Quick play test' has 3 steps$"):
        api.play(load(str(QUICK)), api.Settings(start_at=4), quiet_env(cache_root))


def test_the_package_plays_through_the_api():
    import voice_guide

    assert voice_guide.play is api.play


def test_play_warns_that_reminders_none_drops_the_safety_reminders_as_check_and_export_do(cache_root, tmp_path):
    routine = tmp_path / "bare.yaml"
    routine.write_text("title: Bare\nsteps:\n  - say: Press.\nreminders: none\n")
    env = quiet_env(cache_root)
    with pytest.raises(NoAudioDeviceError):
        api.play(load(str(routine)), api.Settings(), env)
    assert env.stderr.getvalue() == (
        f"voice-guide: warning: {routine}: 'reminders: none' drops the closing safety reminders (stop if it hurts, "
        "ice afterward if sore); remove it to have them said\n"
    )


class Recorder:
    """A sound device that takes every buffer at once and keeps it."""

    def __init__(self):
        self.plays: list[bytes] = []

    def play(self, pcm):
        self.plays.append(pcm)

    def stop_all(self):
        pass

    def wait_done(self):
        pass


def recording(cache_root) -> tuple[Recorder, Environment]:
    """A Recorder as the sound device, and an environment that plays to it."""
    sink = Recorder()
    return sink, Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(),
                             cache_dir=cache_root / "voice-guide", open_sink=lambda: sink)


BLOCK_START = [
    # A sides block, English; and a routine without `language:` said by a German voice: shown as said.
    ("  - sides: [left foot, right foot]\n", Voice(), "Picking up with your right foot.", "(Right foot)"),
    ("  - repeat: 2\n", Voice(voice="de"), "Weiter: Runde zwei von zwei.", "(Runde 2 von 2)"),
]


@pytest.mark.slow
@pytest.mark.parametrize("block, voice, where, label", BLOCK_START)
def test_play_started_inside_a_block_says_and_shows_where_it_picks_up_first_in_the_language_spoken(
        cache_root, tmp_path, block, voice, where, label):
    routine = tmp_path / "feet.yaml"
    routine.write_text(f"title: Feet\nvoice:\n  rate: 300\nchime: false\nsteps:\n{block}"
                       "    steps:\n      - say: Lift.\n        pause: 0.1s\n      - say: Press.\n        pause: 0.1s\n"
                       "reminders:\n  - Stop if it hurts.\n")
    sink, env = recording(cache_root)
    settings = api.Settings(voice=voice, start_at=4)
    with api.synthesizer(load(str(routine)), settings, env) as synth:
        said = synth.samples(where)
    api.play(load(str(routine)), settings, env)
    lines = env.stdout.getvalue().splitlines()
    assert lines[1] == f"starting at step 4/4 {label}: {where}"
    assert lines[2].endswith(f"step 4/4    {label[1:-1]}: Press.")
    assert len(sink.plays[0]) == 2 * len(said)  # 16-bit samples of that very line
    assert len(sink.plays) == 1 + 1 + 2  # where, "Press.", the ending and the reminder
