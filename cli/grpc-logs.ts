/**
 * grpc-js prints its own diagnostics to stderr as bare text ("E No address added…"); in a server
 * process every stderr line must be a JSON log record, so they go through our logger instead.
 */
import { format } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../common/log.ts';

export function routeGrpcLogs(logger: Logger): void {
  const grpcLogger = logger.child('grpc');
  grpc.setLogger({
    error: (...args: unknown[]) => grpcLogger.warn(format(...args).trim()),
    info: (...args: unknown[]) => grpcLogger.debug(format(...args).trim()),
    debug: (...args: unknown[]) => grpcLogger.debug(format(...args).trim()),
  });
}
