# registry-mirror's container image.
#   docker build -t registry-mirror .
#   docker run -d -p 5000:5000 -v registry-mirror-cache:/var/lib/registry-mirror registry-mirror
# Settings come as MIRROR_* environment variables, flags after the image name, or a config
# file named by MIRROR_CONFIG. Subcommands run the same way: `docker run … registry-mirror pins`.
# NODE_IMAGE is any Debian-based Node 20 image; the official one by default.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Scripts wait for the sources: `prepare` would build before they are copied in.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE}
# tini as PID 1: it forwards SIGTERM to Node (which then closes gracefully and exits 0) and
# reaps zombies; Node as PID 1 would ignore signals that arrive before its handlers exist.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && apt-get clean \
  && rm -rf /var/lib/apt/lists/* \
  && groupadd --gid 10001 registry-mirror \
  && useradd --uid 10001 --gid 10001 --no-create-home --no-log-init --home-dir /nonexistent \
    --shell /usr/sbin/nologin registry-mirror \
  && install -d -o 10001 -g 10001 -m 0750 /var/lib/registry-mirror
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY deploy/container/healthcheck.mjs LICENSE ./
ENV MIRROR_LISTEN=0.0.0.0:5000 \
    MIRROR_CACHE_DIR=/var/lib/registry-mirror
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
VOLUME /var/lib/registry-mirror
EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "/app/healthcheck.mjs"]
# The same Node flags as `npm start`.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=2", "/app/dist/main.js"]
LABEL org.opencontainers.image.title="registry-mirror" \
      org.opencontainers.image.description="A pull-through caching mirror for container registries" \
      org.opencontainers.image.licenses="Apache-2.0"
