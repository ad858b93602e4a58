# One image for the control plane and the agent (same package, different command).
# Build from the repository root: docker build -f docker/node.Dockerfile -t sbc-node .
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# NATS credentials (compose's nats-credentials service writes them here, as user node).
RUN install -d -o node -g node -m 0700 /auth
USER node
EXPOSE 8080
# Control plane by default; the agent runs with: node dist/src/agent/main.js
CMD ["node", "--enable-source-maps", "dist/src/main.js"]
