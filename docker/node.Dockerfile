# One image for the control plane, the agent and the nats-credentials tool (same package,
# different command). Build from the repository root:
#   docker build -f docker/node.Dockerfile -t elastic-sbc/node:dev .
#
# Stages: `build` runs npm ci, the TypeScript build and a prune to production dependencies;
# `context` takes an /app already made on the build host (package.json, dist/, node_modules/
# without dev dependencies) from the build context's app/ directory. APP_STAGE picks which one
# the runtime copies from. Users keep the default (`build`). CI, whose image builds cannot reach
# the npm registry, passes APP_STAGE=context, a NODE_IMAGE holding the host's Node binary
# (test/docker/nodejs.Dockerfile) and builds with BuildKit, which skips the stage not used.
ARG NODE_IMAGE=node:22-bookworm-slim
ARG APP_STAGE=build

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS context
# package.json is always there, so this COPY also passes where no app/ exists (the classic
# builder, which builds every stage, on a user's checkout).
COPY package.json app* /app/

FROM ${APP_STAGE} AS app

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=app /app/package.json ./
COPY --from=app /app/node_modules ./node_modules
COPY --from=app /app/dist ./dist
# /auth: NATS credentials and the API bootstrap token (compose's nats-credentials service
# writes them there). uid 1000 is `node` in the node images; numeric, so a base without that
# user name works too.
RUN mkdir -p /auth && chown 1000:1000 /auth && chmod 0700 /auth
USER 1000:1000
EXPOSE 8080
# Ready = every dependency usable (README, /readyz). No curl in the slim image: Node's fetch.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.SBC_HTTP_PORT||8080)+'/readyz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Control plane by default; the agent runs with: node --enable-source-maps dist/src/agent/main.js
CMD ["node", "--enable-source-maps", "dist/src/main.js"]
