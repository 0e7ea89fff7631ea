#!/usr/bin/env bash
# The TUI on the GPU machine, as a user runs it: a real terminal (tmux), one real trial, a screenshot.
# Needs textual's wheels and Debian's tmux packages carried in .devrun/ (see docs/measurements/README.md).
# Usage (repo root, on the GPU machine): bash bench/h100_tui.sh "$OUT"
set -u
out=${1:?usage: h100_tui.sh OUT_DIR}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .devrun/whl/*.whl || exit 1
export PYTHONPATH="/tmp/site:$PWD"
mkdir -p /tmp/tmuxroot && for f in .devrun/debs/*.deb; do dpkg -x "$f" /tmp/tmuxroot; done
export PATH="/tmp/tmuxroot/usr/bin:$PATH" LD_LIBRARY_PATH="/tmp/tmuxroot/usr/lib/x86_64-linux-gnu"
tmux -V || exit 1
tmux() { command tmux -L "wb$$" "$@"; }  # a private server: a leftover one from an earlier run cannot clash
# Textual saves an SVG of the screen this many seconds after start. (Textual draws on stderr:
# never redirect it, or the screen goes to the file instead of the terminal.)
export TEXTUAL_SCREENSHOT=45 TEXTUAL_SCREENSHOT_LOCATION="$out" TEXTUAL_SCREENSHOT_FILENAME=tui-h100.svg
rm -f /tmp/tui-h100-session.json
tmux new-session -d -s wb -x 200 -y 50 \
  "python3 -m workbench tui --problem L1/66 --gpu h100 --session /tmp/tui-h100-session.json; sleep 60"
sleep 12
tmux capture-pane -p -t wb > "$out/tui-h100-start.txt"
tmux send-keys -t wb Escape
sleep 1
tmux send-keys -t wb r
for i in $(seq 1 50); do
  sleep 2
  if python3 -c "import json,sys; d=json.load(open('/tmp/tui-h100-session.json')); sys.exit(0 if d['trials'] else 1)" 2>/dev/null; then
    echo "trial recorded after $((i * 2)) s"; break
  fi
done
sleep 3
tmux capture-pane -p -t wb > "$out/tui-h100-trial.txt"
for i in $(seq 1 40); do [ -f "$out/tui-h100.svg" ] && break; sleep 2; done  # the screenshot timer
tmux send-keys -t wb q
sleep 2
cat "$out/tui-h100-trial.txt"
ls -la "$out"
