#!/bin/sh
# The image's entry point.
#   serve ...  the api. With RAY_ADDRESS (the head's GCS, host:port) this container first joins
#              the Ray cluster as a node without CPUs, so the api is a Ray driver on a node of
#              the cluster (ray.init needs a local raylet to join by address).
#   ray ...    `ray start --head` or `ray start --address=...` for the Ray nodes hosting the
#              actors, which run the switch's code from this same image.
#   anything else: `python -m switch ...` (merchant create, ledger check, audit verify, ...).
set -eu
[ "$#" -gt 0 ] || set -- serve
case "$1" in
  ray) exec "$@" ;;
  serve)
    if [ -n "${RAY_ADDRESS:-}" ] && [ "${RAY_ADDRESS}" != "local" ]; then
      ray start --address="${RAY_ADDRESS}" --num-cpus=0 --disable-usage-stats
    fi
    exec python -m switch "$@" ;;
  *) exec python -m switch "$@" ;;
esac
