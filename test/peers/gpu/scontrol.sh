#!/bin/sh
# A scripted Slurm scontrol for the OpenSSH peer test: `update nodename=N
# state=drain reason=…`, `state=resume`, `show node N`; the drain kept in a file
# beside it, every call appended to ops.log.
D="$(cd "$(dirname "$0")/.." && pwd)"
echo "scontrol $*" >> "$D/ops.log"
case "$1" in
  show)
    if [ -f "$D/drain" ]; then
      echo "NodeName=$3 Arch=x86_64 CoresPerSocket=56"
      echo "   State=IDLE+DRAIN ThreadsPerCore=2 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A"
      echo "   Reason=$(cat "$D/drain") [root@2026-01-01T00:00:00]"
    else
      echo "NodeName=$3 Arch=x86_64 CoresPerSocket=56"
      echo "   State=MIXED ThreadsPerCore=2 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A"
    fi
    exit 0 ;;
  update) shift ;;
  *) echo "invalid keyword: $1" >&2; exit 1 ;;
esac
state=""; reason=""
for a in "$@"; do
  case "$a" in
    [Ss]tate=*) state="${a#*=}" ;;
    [Rr]eason=*) reason="${a#*=}" ;;
  esac
done
case "$state" in
  drain|DRAIN)
    if [ -z "$reason" ]; then
      echo "You must specify a reason when DOWNING or DRAINING a node. Request denied" >&2; exit 1
    fi
    printf '%s\n' "$reason" > "$D/drain" ;;
  resume|RESUME)
    if [ ! -f "$D/drain" ]; then echo "slurm_update error: Invalid node state specified" >&2; exit 1; fi
    rm -f "$D/drain" ;;
  *) echo "Invalid node state specified" >&2; exit 1 ;;
esac
