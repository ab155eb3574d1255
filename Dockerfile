# twopc on Node 20: one image for every role; the command line picks it (see docker-compose.yml).
# Not built or run by this project's CI (there is no Docker engine on its machines).
FROM node:20-slim

# better-sqlite3 downloads a prebuilt binary when one matches; these build it from source otherwise.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev
# The sources only (a plain `COPY . .` would drag in a host node_modules built for another system).
COPY proto ./proto
COPY common ./common
COPY coordinator ./coordinator
COPY participant ./participant
COPY chaos ./chaos
COPY client ./client
COPY cli ./cli
COPY examples ./examples

# `npx twopc` runs cli/bin.mjs; calling node directly keeps npm out of the way of SIGTERM,
# so `docker stop` gets a graceful shutdown.
ENTRYPOINT ["node", "cli/bin.mjs"]
CMD ["--help"]
