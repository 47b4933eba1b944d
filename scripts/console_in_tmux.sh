#!/usr/bin/env bash
# Drive the console on made-up data (FixedSource) in a detached tmux session and print
# what the terminal shows after each step: a quick look at the real layout, over a real pty.
#
#   scripts/console_in_tmux.sh [COLSxLINES] [KEYS...]
#   scripts/console_in_tmux.sh 80x24 2 3 Enter Escape question_mark Escape q
#
# Each KEYS argument is one tmux send-keys argument (e.g. Enter, Escape, /, s).
set -euo pipefail
size="${1:-120x40}"
shift || true
cols="${size%x*}"
lines="${size#*x}"
session="omega-console-$$"
tmux new-session -d -s "$session" -x "$cols" -y "$lines" "omega-tui console --fixed-data"
trap 'tmux kill-session -t "$session" 2>/dev/null || true' EXIT
sleep 2
echo "=== start (${size}) ==="
tmux capture-pane -t "$session" -p
for key in "$@"; do
    tmux send-keys -t "$session" "$key"
    sleep 1
    echo "=== after ${key} ==="
    tmux capture-pane -t "$session" -p 2>/dev/null || break
done
