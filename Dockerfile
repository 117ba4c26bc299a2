# keybroker: runs from source on Node 24 (type stripping; no build step).
FROM node:24-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY src ./src
COPY examples ./examples
USER node
ENTRYPOINT ["node", "src/cli/main.ts"]
CMD ["serve", "-c", "/app/examples/compose/keybroker.yaml"]
