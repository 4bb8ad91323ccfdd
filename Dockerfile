# causal-kvs server image: one file, dist/kvs.mjs, on a slim Node 20 base, as a non-root user.
#
#   docker build -t asg3img .
#   docker run --rm -p 8082:8090 -e SOCKET_ADDRESS=10.10.0.2:8090 \
#     -e VIEW=10.10.0.2:8090,10.10.0.3:8090,10.10.0.4:8090 asg3img
#
# Build arguments:
#   BUILD_IMAGE    image of the build stage: needs node and npm (default: the official node:20)
#   RUNTIME_IMAGE  image the server runs on: needs only node on PATH (default: node:20-slim)
#   BUNDLE_SOURCE  build   (default) npm ci + npm run build inside the build stage
#                  context take dist/kvs.mjs from the build context as it is: run `npm run build`
#                          first; the build stage then runs no npm and needs no network, so any
#                          image with node and /bin/sh will do as BUILD_IMAGE (scripts/image-check.sh
#                          uses this with a local base where Docker Hub is not reachable)
#
# No `# syntax=` line on purpose: it would make BuildKit fetch a frontend image from Docker Hub.
# Works with BuildKit and with the classic builder.

ARG BUILD_IMAGE=node:20
ARG RUNTIME_IMAGE=node:20-slim

FROM ${BUILD_IMAGE} AS build
ARG BUNDLE_SOURCE=build
WORKDIR /src
# Dependencies first, so this layer is cached while only the sources change.
COPY package.json package-lock.json ./
RUN if [ "$BUNDLE_SOURCE" = build ]; then npm ci --no-audit --no-fund; fi
COPY . .
RUN set -e; \
    case "$BUNDLE_SOURCE" in \
      build) rm -rf dist && npm run build ;; \
      context) test -s dist/kvs.mjs || { echo "BUNDLE_SOURCE=context needs dist/kvs.mjs in the build context: run npm run build first" >&2; exit 1; } ;; \
      *) echo "BUNDLE_SOURCE must be build or context, got '$BUNDLE_SOURCE'" >&2; exit 1 ;; \
    esac; \
    node --check dist/kvs.mjs

FROM ${RUNTIME_IMAGE} AS runtime
WORKDIR /app
# Root-owned and read-only for the server (logs go to stdout).
COPY --from=build /src/dist/kvs.mjs /app/kvs.mjs
# The one place it writes, with DATA_DIR=/data: a volume mounted there (docker-compose.yml,
# deploy/kubernetes.yaml). A new named volume takes this directory's owner, so uid 10001 may write it.
RUN mkdir -p /data && chown 10001:10001 /data
ENV NODE_ENV=production
# A numeric uid:gid, so it works on any base, with or without a matching /etc/passwd entry.
USER 10001:10001
EXPOSE 8090
# The server handles SIGTERM and SIGINT itself (src/main.ts) and exits 0, also as PID 1.
STOPSIGNAL SIGTERM
CMD ["node", "/app/kvs.mjs"]
