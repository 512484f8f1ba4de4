# syntax=docker/dockerfile:1
# wattkeeper edge agent image. Build stage: installs every dependency, compiles
# better-sqlite3 (a native addon) from source against this image's own Node
# headers, builds dist/ with `npm run build`, then prunes the dev dependencies.
# Runtime stage: the same Node image with dist/ and the pruned node_modules,
# run as an unprivileged user; state in a volume, config mounted read-only.
#
#   docker build -t wattkeeper .
#   docker run -d --name wattkeeper --init --restart unless-stopped --stop-timeout 60 \
#     -v /etc/wattkeeper:/etc/wattkeeper:ro -v wattkeeper-state:/var/lib/wattkeeper \
#     -p 8080:8080 wattkeeper
#
# Node: the Active LTS line (26 since 2026-10-28); the code also runs on 20+.
ARG NODE_IMAGE=node:26-trixie-slim

FROM ${NODE_IMAGE} AS build
# Toolchain for node-gyp: better-sqlite3 (and ssh2's optional cpu-features) compile here.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# better-sqlite3 from source: prebuild-install (which honours this setting, by
# package name) skips its download and node-gyp compiles against the headers
# this image ships in /usr/local/include/node (no header download either).
ENV npm_config_build_from_source=better-sqlite3 \
    npm_config_nodedir=/usr/local
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# Then smoke tests: the compiled addon opens a database, the built CLI validates a config.
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && node -e "const D = require('better-sqlite3'); new D(':memory:').prepare('select 1').get()" \
 && node dist/agent/entry.js check-config dist/config/examples/sim.yaml >/dev/null

FROM ${NODE_IMAGE}
# MALLOC_ARENA_MAX: two glibc malloc arenas, not one per thread; MALLOC_MMAP_THRESHOLD_: large
# blocks mapped on their own, so freeing them gives the memory back (as the systemd unit)
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=65536 \
    WATTKEEPER_CONFIG=/etc/wattkeeper/config.yaml \
    WATTKEEPER_HEALTH_PORT=8080
# openssl: `http.tls: {selfSigned: true}` makes the page's certificate with it at first start
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssl \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system wattkeeper \
 && useradd --system --gid wattkeeper --home-dir /var/lib/wattkeeper --no-create-home \
      --shell /usr/sbin/nologin wattkeeper \
 && mkdir -p /etc/wattkeeper /var/lib/wattkeeper \
 && chown wattkeeper:wattkeeper /var/lib/wattkeeper \
 && chmod 0750 /var/lib/wattkeeper
WORKDIR /opt/wattkeeper
# Owned by root, read-only to the agent. No sources: bin/wattkeeper.js runs dist/.
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/bin ./bin
COPY --from=build /src/scripts/healthcheck.mjs ./scripts/healthcheck.mjs
COPY --from=build /src/systemd ./systemd
COPY --from=build /src/README.md ./
# `docker exec wattkeeper wattkeeper check-config /etc/wattkeeper/config.yaml` and friends
RUN ln -s /opt/wattkeeper/bin/wattkeeper.js /usr/local/bin/wattkeeper
# State: the SQLite store (store.path: /var/lib/wattkeeper/wattkeeper.db in the config).
VOLUME ["/var/lib/wattkeeper"]
USER wattkeeper
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["node", "/opt/wattkeeper/scripts/healthcheck.mjs"]
# SIGTERM (docker stop) ends cleanly; SIGHUP (docker kill -s HUP) reloads the config.
STOPSIGNAL SIGTERM
# --max-semi-space-size=4: V8's young generation a quarter of its default; --no-allocation-site-pretenuring:
# a read's short-lived objects kept out of the old generation; --single-threaded-gc: V8's GC on the
# main thread, not on helper threads that compete for a small gateway's cores (agent/runtime/heap.ts); no
# source maps (about 4 MiB of heap held for them; agent/runtime/heap.ts)
ENTRYPOINT ["node", "--max-semi-space-size=4", "--no-allocation-site-pretenuring", "--single-threaded-gc", "/opt/wattkeeper/dist/agent/entry.js"]
CMD ["run", "--config", "/etc/wattkeeper/config.yaml"]
