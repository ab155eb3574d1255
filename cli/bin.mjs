#!/usr/bin/env node
// Entry point of `npx twopc`: loads the TypeScript sources through tsx (no build step), then runs the CLI.
import { setTimeout } from 'node:timers';
import { register } from 'tsx/esm/api';

// A command's promise settles only when the command is finished (a server after its graceful close),
// so the process should end now. Handles that outlive it (a gRPC channel's keepalive timer, a socket
// in TIME_WAIT teardown) get this long to go away on their own before the process exits anyway.
const exitLingerMsMax = 2_000;

register();
const { main } = await import('./main.ts');
const code = await main(process.argv.slice(2));
process.exitCode = code;
setTimeout(() => process.exit(code), exitLingerMsMax).unref();
