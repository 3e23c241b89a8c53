# edgeban: two stages, the runtime one without compilers or dev dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 builds from source when no prebuilt binary can be fetched
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
# the console page is bundled into dist/ui here (esbuild is a dev dependency)
# the commit for fail2ban_build_info: the context has no .git (docker build --build-arg EDGEBAN_COMMIT=$(git rev-parse HEAD))
ARG EDGEBAN_COMMIT=unknown
RUN npx tsc -p tsconfig.json && node dist/src/main/console/build.js \
    && EDGEBAN_COMMIT=$EDGEBAN_COMMIT node dist/src/main/metrics/write-build-info.js && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    # a fixed mmap threshold lets glibc hand large freed buffers (ban-table rebuilds) back to the
    # OS instead of keeping them in the heap (measured: 79 → ~62 B of RSS per ban at 1.1M)
    MALLOC_MMAP_THRESHOLD_=131072 \
    # a 4 MB young generation: start-up would grow the default one to 32 MB it never gives back
    # (~30 MB of idle RSS, docs/memory.md); Envoy at high rates wants 64 (set NODE_OPTIONS)
    NODE_OPTIONS=--max-semi-space-size=4 \
    # unprivileged in the container: syslog on 5514 (map 514 to it), reachable from the network
    FAIL2BAN_SYSLOG_ADDRESS=0.0.0.0:5514 \
    FAIL2BAN_SYSLOG_PROTOCOL=both
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/ui ./dist/ui
COPY --from=build /app/dist/build-info.json ./dist/build-info.json
COPY package.json ./
COPY bin ./bin
# the ext_authz .proto files are loaded at start (src/main/envoy/proto.ts)
COPY proto ./proto
# no config file in the image: the embedded defaults and FAIL2BAN_* variables apply, or mount
# one at /etc/edgeban/config.yaml (searched by default; `edgeban check-config` validates it)
RUN useradd --system --uid 10001 --home-dir /data --create-home edgeban
USER edgeban
# the SQLite database (./fail2ban.db) and the policy cache live in the working folder; a
# bind-mounted /data must be writable by uid 10001 (chown 10001 on the host), or edgeban refuses
# to start and says so (database.optional: true starts with bans in memory only)
WORKDIR /data
VOLUME ["/data"]
# SPOA, Envoy gRPC, Nginx auth_request + REST API, metrics, syslog
EXPOSE 12345 9001 8888 2112 5514/udp 5514/tcp
# /ready on the HTTP port of the effective config (nginx.address/port, FAIL2BAN_* included): 200
# once every listener serves (JSON with each subsystem's state), 503 while starting or stopping
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s \
  CMD ["node", "/app/bin/edgeban.js", "health"]
ENTRYPOINT ["node", "/app/bin/edgeban.js"]
CMD ["serve"]
