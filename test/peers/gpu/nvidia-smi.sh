#!/bin/sh
# A scripted nvidia-smi for the OpenSSH peer test: canned 8x H100 CSV for the
# fields asked, power limits kept in files beside it, a hang when asked to.
D="$(cd "$(dirname "$0")/.." && pwd)"
if [ -f "$D/hang" ]; then
  trap '' TERM
  exec sleep 59.1234
fi
q=""; apps=""; help=""; id=""; pl=""
while [ $# -gt 0 ]; do
  case "$1" in
    --query-gpu=*) q="${1#--query-gpu=}" ;;
    --query-compute-apps=*) apps=1 ;;
    --help-query-gpu) help=1 ;;
    -i) id="$2"; shift ;;
    -pl) pl="$2"; shift ;;
  esac
  shift
done
if [ -n "$help" ]; then
  echo 'List of valid properties to query for the switch "--query-gpu":'
  echo
  for f in '"index"' '"name" or "gpu_name"' '"uuid" or "gpu_uuid"' '"fan.speed"' '"pstate"' '"memory.total"' \
    '"memory.used"' '"utilization.gpu"' '"ecc.errors.uncorrected.volatile.total"' '"temperature.gpu"' \
    '"temperature.memory"' '"power.draw"' '"power.limit"' '"enforced.power.limit"' '"power.default_limit"' \
    '"power.min_limit"' '"power.max_limit"' '"clocks.current.sm" or "clocks.sm"'; do
    echo "$f"; echo "Described here."; echo
  done
  exit 0
fi
if [ -n "$pl" ]; then
  echo "$pl" > "$D/limit.$id"
  echo "Power limit for GPU 00000000:18:00.0 was set to $pl W from 700.00 W."
  echo "All done."
  exit 0
fi
if [ -n "$apps" ]; then
  echo "GPU-00000000-0000-0000-0000-000000000000, 4242"
  exit 0
fi
for i in 0 1 2 3 4 5 6 7; do
  if [ -n "$id" ] && [ "$id" != "$i" ]; then continue; fi
  lim=700.00
  if [ -f "$D/limit.$i" ]; then lim=$(cat "$D/limit.$i"); fi
  line=""
  for f in $(echo "$q" | tr ',' ' '); do
    case "$f" in
      index) v=$i ;;
      uuid) v="GPU-0000000$i-0000-0000-0000-000000000000" ;;
      name) v="NVIDIA H100 80GB HBM3" ;;
      power.draw) v=612.5$i ;;
      power.limit|enforced.power.limit) v=$lim ;;
      power.min_limit) v=200.00 ;;
      power.max_limit|power.default_limit) v=700.00 ;;
      temperature.gpu) v=59 ;;
      temperature.memory) v=54 ;;
      utilization.gpu) v=100 ;;
      memory.used) v=19818 ;;
      memory.total) v=81559 ;;
      clocks.sm|clocks.current.sm) v=1980 ;;
      pstate) v=P0 ;;
      ecc.errors.uncorrected.volatile.total) v=0 ;;
      *) v="[N/A]" ;;
    esac
    line="${line:+$line, }$v"
  done
  echo "$line"
done
