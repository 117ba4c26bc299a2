# syntax=docker/dockerfile:1
# keybroker's image: Node 24 runs the TypeScript sources directly (type stripping), so
# what runs is what the tests ran; production dependencies only; non-root.
#
#   docker build -t keybroker:0.1.0 .
#   docker run --rm keybroker:0.1.0 --version

FROM node:24-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no install script of a dependency runs at build time.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json ./
COPY src ./src
COPY proto ./proto
# The socket directory: owned by keybroker's user, group 1337 (shared with Envoy) and
# setgid, so the socket keybroker creates there is group 1337, mode 0660. A named volume
# mounted here starts with this ownership.
RUN mkdir -p /run/keybroker /etc/keybroker \
 && chown node:1337 /run/keybroker && chmod 2770 /run/keybroker
USER node:node
# The same probe the Kubernetes manifests use: gRPC health over the configured listener.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "src/cli/main.ts", "health", "-c", "/etc/keybroker/keybroker.yaml"]
ENTRYPOINT ["node", "src/cli/main.ts"]
CMD ["serve", "-c", "/etc/keybroker/keybroker.yaml"]
