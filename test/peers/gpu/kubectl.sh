#!/bin/sh
# A scripted kubectl for the OpenSSH peer test: cordon / uncordon one node.
D="$(cd "$(dirname "$0")/.." && pwd)"
echo "kubectl $*" >> "$D/ops.log"
case "$1" in
  cordon) touch "$D/cordoned"; echo "node/$2 cordoned" ;;
  uncordon) rm -f "$D/cordoned"; echo "node/$2 uncordoned" ;;
  *) echo "error: unknown command \"$1\" for \"kubectl\"" >&2; exit 1 ;;
esac
